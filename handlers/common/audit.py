"""What handlers add to the audit trail: each in one call, with the job's context."""

from __future__ import annotations

from app.audit import Action, audit
from app.context import Context
from app.store import Job

# What the trail says of a push that added no commit (the branch already had the change).
NO_NEW_COMMIT = "no new commit"


async def record_push(context: Context, branch: str, sha: str | None) -> None:
    """A push of the work branch: which branch, at which commit, for whom (the job's requester)."""
    await audit(
        context.store,
        Action.PUSH,
        context.job,
        detail=f"pushed {branch} at {sha or NO_NEW_COMMIT}",
        secrets=context.settings.secret_values(),
        log=context.log,
    )


async def record_cancel(context: Context, cancelled: Job, how: str) -> None:
    """A job stopped by a person (the cancel job's requester), and how they asked."""
    await audit(
        context.store,
        Action.JOB_CANCELLED,
        cancelled,
        actor=context.job.requested_by,
        detail=f"{cancelled.kind} job cancelled by @{context.job.requested_by} ({how})",
        secrets=context.settings.secret_values(),
        log=context.log,
    )


async def record_config_error(context: Context, problems: str) -> None:
    """The repository's description of the job's set-up is not valid: the job cannot run."""
    await audit(
        context.store,
        Action.CONFIG_ERROR,
        context.job,
        detail=problems,
        secrets=context.settings.secret_values(),
        log=context.log,
    )


async def record_refusal(context: Context, reason: str) -> None:
    """A trigger the handler refused after the role check: what fixwright will not do, and why."""
    await audit(
        context.store,
        Action.TRIGGER_REFUSED,
        context.job,
        detail=f"{context.kind.name}: {reason}",
        secrets=context.settings.secret_values(),
        log=context.log,
    )
