"""The review job: `/review` on a pull request asks for a line-anchored review."""

from __future__ import annotations

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.routing import Router
from app.store import NewJob
from handlers.commands import command_of, job_for
from handlers.reactions import acknowledge

router = Router()

REVIEW_PERMISSIONS = {
    "contents": "read",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "metadata": "read",
}


@router.trigger("issue_comment", "created")
def plan_review(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/review` on a pull request."""
    command = command_of(event)
    if command is None or command.name != "review" or not event.is_pull_request:
        return None
    return job_for(event, "review", settings)


@router.job("review", permissions=REVIEW_PERMISSIONS)
async def review_pull_request(event: WebhookEvent, context: Context) -> str:
    """Take the review up: the 👀 reaction tells the reviewer it was seen."""
    await acknowledge(event, context)
    return "acknowledged"
