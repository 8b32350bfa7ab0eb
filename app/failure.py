"""Telling the GitHub thread why a job failed, in words, with what to do next."""

from __future__ import annotations

from typing import Any

from app.store import Job

FAILURE_MARKER = "<!-- fixwright:failure -->"

RETRY_HINT = {
    "fix": "Comment `/fix` to try again.",
    "review": "Comment `/review` to try again.",
    "help": "Comment `/help` to try again.",
}


def failure_comment(job: Job, reason: str, next_step: str = "") -> str:
    """The comment text: what failed, why, and the next step (a retry hint when none is given)."""
    step = next_step or RETRY_HINT.get(job.kind, "")
    return (
        f"{FAILURE_MARKER}\n"
        f"**fixwright could not finish this {job.kind} job:** {reason}\n\n"
        f"{step}\n\n"
        f"<sub>job `{job.id}` · attempt {job.attempts}</sub>"
    ).replace("\n\n\n", "\n\n")


async def tell_thread(github: Any, job: Job, reason: str, next_step: str = "") -> None:
    """Post the failure comment on the job's issue or pull request."""
    if job.number is None:
        return
    owner, _, name = job.repository.partition("/")
    await github.rest.issues.async_create_comment(
        owner, name, job.number, body=failure_comment(job, reason, next_step)
    )
