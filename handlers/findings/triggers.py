"""A push to a pull request (`pull_request.synchronize`) may address findings fixwright's
reviews posted on it. fixwright reviews anyone's pull request, so every push plans a check; its
handler asks the store first and reads nothing from GitHub when no finding waits."""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent
from app.store import NewJob
from handlers.outcomes.triggers import kept_ids

NAME = "findings_check"


def plan_findings_check(event: WebhookEvent, settings: Settings) -> NewJob | None:
    del settings
    number = event.issue_number
    after = event.payload.get("after")
    if number is None or not event.repository or not isinstance(after, str) or not after:
        return None
    return NewJob(
        kind=NAME,
        repository=event.repository,
        target=f"{event.repository}#{number}/findings",
        number=number,
        installation_id=event.installation_id,
        requested_by=event.sender_login,
        payload={"event": event.name, "payload": {**kept_ids(event), "after": after[:64]}},
    )
