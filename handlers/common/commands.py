"""Slash commands in comments (`/fix`, `/review`, `/help`): parsing and planning, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.events import WebhookEvent
from app.store import NewJob

COMMAND_PATTERN = re.compile(r"^/(?P<name>[a-z][a-z-]*)\b[ \t]*(?P<args>.*)$")


@dataclass(frozen=True)
class Command:
    name: str
    args: str


def parse_command(body: str) -> Command | None:
    """The command a comment starts with (`/fix make it faster`), or None.

    Only the first non-blank line counts, so quoting a command in prose does nothing.
    """
    for line in body.strip().splitlines()[:1]:
        match = COMMAND_PATTERN.match(line.strip())
        if match:
            return Command(match["name"], match["args"].strip())
    return None


def is_human_trigger(event: WebhookEvent) -> bool:
    """Bots (the App itself included) never trigger work."""
    return bool(event.sender_login) and not event.sender_is_bot


def job_for(event: WebhookEvent, kind: str) -> NewJob | None:
    """A job of this kind about the event's issue or pull request."""
    number = event.issue_number
    if number is None or not event.repository:
        return None
    return NewJob(
        kind=kind,
        repository=event.repository,
        target=f"{event.repository}#{number}",
        number=number,
        installation_id=event.installation_id,
        requested_by=event.sender_login,
        payload={"event": event.name, "payload": dict(event.payload)},
    )


def command_of(event: WebhookEvent) -> Command | None:
    """The command of a newly created comment by a human; edited comments never trigger."""
    if event.name != "issue_comment" or event.action != "created" or not is_human_trigger(event):
        return None
    return parse_command(event.comment_body)
