"""A task has no GitHub thread: the progress and the check run the fix's verification reports
to are kept in the job's event log instead, so `verify_fix` serves a task unchanged."""

from __future__ import annotations

from typing import Any

from app.context import Context
from handlers.common.check_runs import CheckRun
from handlers.common.progress import ProgressComment, ProgressState, Step


class TaskProgress(ProgressComment):
    """The progress of a task: each state the fix would show in its comment is not posted."""

    def __init__(self, context: Context, max_turns: int) -> None:
        state = ProgressState(job_id=context.job.id, max_turns=max_turns, current=Step.PREPARING)
        super().__init__(context.github, context.job.repository, 0, state, interval=0.0)

    async def _send(self, body: str) -> None:
        del body  # no thread to post in: the job's event log has the run's own events


class NoCheckRun(CheckRun):
    """No commit of the task's is checked on GitHub: nothing is sent."""

    def __init__(self, context: Context) -> None:
        super().__init__(context.github, context.job.repository, "", context.job.id)

    async def _send(self, step: str, fields: dict[str, Any]) -> bool:
        del step, fields
        return True
