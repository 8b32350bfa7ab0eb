"""The fix job's record of the pull request it opened: what makes a pull request fixwright's
for the outcomes (a branch name alone never does)."""

from __future__ import annotations

from app.context import Context


async def record_opened(context: Context, number: int, branch: str) -> None:
    """Keep the pull request; a store that refuses the write is logged, never failing the job
    whose pull request is already open (the outcome is then not counted)."""
    job = context.job
    try:
        await context.store.record_pull_request_opened(
            job.repository, number, branch, job.id, job.installation_id
        )
    except Exception as error:  # the PR stands; only its outcome will be missing
        context.log.error("outcome.opened_not_recorded", number=number, error=repr(error))
