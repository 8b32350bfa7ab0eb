"""Recording what became of a pull request fixwright opened: the store is written (no sandbox,
no model, no comment), the reviewers' decisions are read from GitHub, and the merge is counted
in the metrics once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from githubkit.exception import GitHubException

from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.store.outcomes import REVIEW_STATES, PullRequestChange, Recorded

if TYPE_CHECKING:
    from githubkit.rest.paginator import Paginator
    from githubkit_schemas.latest.models import PullRequestReview

PAGE_SIZE = 100


def moment(value: object) -> float | None:
    """GitHub's ISO 8601 time as seconds since the epoch, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def record_outcome(event: WebhookEvent, context: Context) -> str:
    """Keep the change; a pull request fixwright did not open is left alone (and not read)."""
    job = context.job
    number = job.number or 0
    try:
        if await context.store.pull_request_outcome(job.repository, number) is None:
            return "not a pull request fixwright opened"
        await record_reviews(context, number)
        recorded = await context.store.record_pull_request_change(change_of(event, context))
    except Exception as error:  # the thread is not told: nobody asked for this job
        context.log.error("outcome.not_recorded", error=repr(error))
        reason = f"the outcome was not recorded ({type(error).__name__})"
        raise JobFailed(reason, reported=True) from error
    if recorded.outcome is None:
        return "not a pull request fixwright opened"
    observe(context, recorded)
    return f"pull request #{number}: {recorded.outcome.state}"


def change_of(event: WebhookEvent, context: Context) -> PullRequestChange:
    """The change, at GitHub's time for it (the delivery's arrival when GitHub gave none)."""
    pull = event.payload.get("pull_request") or {}
    merged = pull.get("merged") is True
    at = moment(pull.get("updated_at")) or moment(pull.get("closed_at")) or context.job.created_at
    return PullRequestChange(
        repository=context.job.repository,
        number=context.job.number or 0,
        action=event.action,
        at=at,
        merged=merged,
        merged_at=moment(pull.get("merged_at")) if merged else None,
    )


async def record_reviews(context: Context, number: int) -> None:
    """The approvals and requests for changes the pull request got, as GitHub lists them (each
    kept once). GitHub failing here loses only the reviews: the outcome is recorded anyway."""
    owner, name = context.owner_and_name
    github = context.github
    pages: Paginator[PullRequestReview] = github.rest.paginate(
        github.rest.pulls.async_list_reviews,
        owner=owner,
        repo=name,
        pull_number=number,
        per_page=PAGE_SIZE,
    )
    try:
        async for review in pages:
            state = (review.state or "").lower()
            if state not in REVIEW_STATES:
                continue
            await context.store.record_pull_request_review(
                context.job.repository,
                number,
                review.id,
                state,
                review.user.login if review.user else "",
                review.submitted_at.timestamp() if review.submitted_at else context.job.created_at,
            )
    except GitHubException as error:
        context.log.warning("outcome.reviews_not_read", error=repr(error))


def observe(context: Context, recorded: Recorded) -> None:
    """The merge's time and cost, observed once, by the job whose change merged it."""
    outcome = recorded.outcome
    if context.metrics is None or outcome is None or not recorded.merged_now:
        return
    seconds = outcome.seconds_to_merge
    if seconds is not None:
        context.metrics.pull_request_merge_seconds.observe(seconds)
    context.metrics.merged_pull_request_cost.observe(outcome.cost_usd)
