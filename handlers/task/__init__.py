"""The task job: Claude Code on a repository with a prompt sent through the API (`POST /v1/tasks`).

No GitHub event starts it, so it has no triggers and no role to check: the API key's scope is
its authority. It pushes and opens pull requests as a fix does, when the task asks for one.
"""

from __future__ import annotations

from dataclasses import replace

from app.kinds import JobKind, Words
from handlers.task.handler import run_task
from handlers.task.spec import NAME

# Commits, pushes and a draft pull request; no issue or check run is written.
TASK_PERMISSIONS = {"contents": "write", "pull_requests": "write", "metadata": "read"}

KIND = JobKind(
    name=NAME,
    handler=run_task,
    triggers=(),
    permissions=TASK_PERMISSIONS,
    least_role=None,
    refusal="",
    metered=True,
    help=(),
    words=Words(
        noun="task",
        retry_command="POST /v1/tasks",
        subject="the task",
        narrow="Split the task into smaller steps, or give it more turns (`claude.max_turns`).",
        check_name="",
        retry_verb="send",
    ),
)

# A schedule's run: the same task, whose token may also comment on an issue or open one when
# the schedule's output asks for it (handlers/task/schedule_output.py).
SCHEDULED_KIND = replace(
    KIND,
    name="scheduled_task",
    permissions={**TASK_PERMISSIONS, "issues": "write"},
    words=replace(KIND.words, retry_command="the schedule's next slot", retry_verb="wait for"),
)
