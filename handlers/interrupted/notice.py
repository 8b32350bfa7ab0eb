"""Telling a thread that its job was interrupted too many times to be retried, and what to do.

A job whose worker died (a crash, an OOM kill, a host restart) is retried; when it has used up
its attempts the reaper marks it failed. The reaper has no GitHub client, so it queues a notice
job in the same transaction, and this handler posts the failure comment from a worker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.context import Context
from app.events import WebhookEvent
from app.failure import tell_thread
from app.kinds import Words

NAME = "interrupted"


def interrupted_reason(attempts: int) -> str:
    """Why the job stopped, in words a maintainer can read."""
    times = "once" if attempts == 1 else f"{attempts} times"
    return (
        f"it was interrupted: the fixwright worker running it stopped {times} (the service was "
        "restarted or crashed), so it is not retried automatically."
    )


def interrupted_next_step(words: Words | None, job_id: str) -> str:
    """How to recover: trigger it again; an operator finds the job in the log."""
    retry = (words.retry_hint if words else "") or "Trigger it again."
    return (
        f"{retry} If it happens again, an operator can look for job `{job_id}` in the service log."
    )


async def tell_thread_job_was_interrupted(event: WebhookEvent, context: Context) -> str:
    """Post the interrupted job's failure comment on its issue or pull request."""
    del event
    interrupted: dict[str, Any] = dict(context.job.payload.get("interruption") or {})
    job_id = str(interrupted.get("job_id", ""))
    attempts = int(interrupted.get("attempts", 0))
    failed = replace(
        context.job,
        id=job_id,
        kind=str(interrupted.get("kind", "")),
        attempts=attempts,
    )
    declared = context.kinds.get(failed.kind)
    words = declared.words if declared else None
    await tell_thread(
        context.github,
        failed,
        words,
        interrupted_reason(attempts),
        interrupted_next_step(words, job_id),
    )
    return f"told the thread that job {job_id} was interrupted"
