"""The quota gate before a job starts: refuse it with one comment when a limit is reached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from githubkit import GitHub
from structlog.typing import FilteringBoundLogger

from app.audit import Action, audit
from app.config import Settings
from app.notices import Notice, post_notice_once
from app.quota import (
    ALLOWED,
    HOUR,
    QuotaDecision,
    Usage,
    decide,
    limits_from,
    refusal_comment,
)
from app.quota_usage import HOLD_SECONDS, usage_today
from app.store.model import Job, Store


async def quota_decision(
    store: Store,
    settings: Settings,
    job: Job,
    metered: frozenset[str],
    now: datetime | None = None,
) -> QuotaDecision:
    """Whether `job` may start now; only the `metered` kinds (those that run Claude Code) are
    held to the quotas, and counted.

    A leased job (a worker's) that passes the other limits then takes its place among its
    installation's running jobs in the shared store, atomically across nodes, or is refused
    because the places are taken: two nodes leasing at once cannot both take the last place,
    nor refuse each other. The place is given back when the job stops running under that lease.
    A job not leased yet (a task the API is asked for) is only checked against the running
    jobs' count."""
    if job.kind not in metered:
        return ALLOWED
    now = now or datetime.now(UTC)
    counts = await store.quota_counts(
        job.installation_id,
        job.requested_by,
        metered,
        since=now.timestamp() - HOUR.total_seconds(),
        exclude_job=job.id,
    )
    spent = await usage_today(store, job.installation_id, now)
    leased = bool(job.lease_owner)
    usage = Usage(
        tokens_today=spent.tokens,
        cost_today_usd=spent.cost_usd,
        active_jobs=0 if leased else counts.active_jobs,
        user_jobs_last_hour=counts.user_jobs,
        user_oldest_job_at=(
            datetime.fromtimestamp(counts.user_oldest_started_at, UTC)
            if counts.user_oldest_started_at
            else None
        ),
    )
    limits = limits_from(settings, job.installation_id)
    decision = decide(limits, usage, now)
    if not decision.allowed or not leased:
        return decision
    running = await store.claim_quota_slot(
        job.id,
        job.installation_id or 0,
        job.lease_owner or "",
        limits.concurrent_jobs,
        HOLD_SECONDS,
    )
    if running is None:
        return ALLOWED
    return decide(limits, Usage(active_jobs=running), now)


async def post_refusal(
    store: Store,
    github: GitHub[Any],
    job: Job,
    noun: str,
    decision: QuotaDecision,
    log: FilteringBoundLogger,
) -> None:
    """The refusal in the audit trail (every one), then the thread's one comment: the limit, the
    usage, and when it resets (at most one an hour for each person on each issue)."""
    await audit(store, Action.QUOTA_REFUSED, job, detail=refusal_summary(decision), log=log)
    if job.number is None:
        return
    body = refusal_comment(decision, noun)
    notice = Notice(job.repository, job.number, job.requested_by, "quota", body)
    await post_notice_once(store, github, notice, log)


def refusal_summary(decision: QuotaDecision) -> str:
    """The job record's summary (the worker ends the job `cancelled`)."""
    return f"refused: quota {decision.limit_name} reached ({decision.reason})"
