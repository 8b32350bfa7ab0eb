"""Reactions fixwright leaves on the comment or issue that triggered a job."""

from __future__ import annotations

from app.context import Context
from app.events import WebhookEvent


async def acknowledge(event: WebhookEvent, context: Context) -> None:
    """👀 on the triggering comment, or on the issue when a label triggered."""
    owner, name = context.owner_and_name
    reactions = context.github.rest.reactions
    if event.comment_id is not None:
        await reactions.async_create_for_issue_comment(
            owner, name, event.comment_id, content="eyes"
        )
    else:
        await reactions.async_create_for_issue(owner, name, event.issue_number or 0, content="eyes")
