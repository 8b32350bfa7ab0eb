"""What asks for a fix: the trigger label added to an issue, or `/fix [instructions]` on one."""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent
from app.store import NewJob
from handlers.common.commands import command_of, is_human_trigger, job_for

NAME = "fix"


def plan_fix_from_label(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """The trigger label was added to an issue by a human."""
    if event.label_name != settings.trigger_label or not is_human_trigger(event):
        return None
    if event.is_pull_request:
        return None
    return job_for(event, NAME)


def plan_fix_from_comment(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/fix [instructions]` on an issue."""
    del settings
    command = command_of(event)
    if command is None or command.name != NAME or event.is_pull_request:
        return None
    return job_for(event, NAME)
