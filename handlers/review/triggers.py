"""What asks for a review: `/review [focus]` on a pull request, by a human."""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent
from app.store import NewJob
from handlers.common.commands import command_of, job_for

NAME = "review"


def plan_review(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/review [focus]` on a pull request; edited comments never trigger."""
    del settings
    command = command_of(event)
    if command is None or command.name != NAME or not event.is_pull_request:
        return None
    return job_for(event, NAME)
