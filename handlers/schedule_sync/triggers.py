"""Which deliveries change a repository's declared schedules: a `push` to its default branch
whose commits add, change or remove `.github/fixwright.yml`. Pushes to other branches, and
pushes that leave the file alone, queue nothing."""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent, dig
from app.repo_config import PATH
from app.store import NewJob

NAME = "schedule_sync"
CHANGES = ("added", "modified", "removed")
NO_COMMIT = "0" * 40  # `after` of a push that deleted the branch


def touches_config(event: WebhookEvent) -> bool:
    """Whether a commit of the push added, changed or removed the file (the list GitHub sends;
    `head_commit` too, for a push whose commits list is empty)."""
    commits = event.payload.get("commits")
    listed = [c for c in commits if isinstance(c, dict)] if isinstance(commits, list) else []
    head = event.payload.get("head_commit")
    if isinstance(head, dict):
        listed.append(head)
    for commit in listed:
        for change in CHANGES:
            paths = commit.get(change)
            if isinstance(paths, list) and PATH in paths:
                return True
    return False


def plan_schedule_sync(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """A push to the default branch touching `.github/fixwright.yml`: read it again."""
    default_branch = dig(event.payload, "repository", "default_branch")
    after = event.payload.get("after")
    if (
        not event.repository
        or event.installation_id is None
        or not isinstance(default_branch, str)
        or event.payload.get("ref") != f"refs/heads/{default_branch}"
        or not isinstance(after, str)
        or len(after) != 40
        or after == NO_COMMIT
        or not touches_config(event)
    ):
        return None
    return NewJob(
        kind=NAME,
        repository=event.repository,
        # One target per repository: its syncs run one after the other, in the pushes' order.
        target=f"{event.repository}!schedule-sync",
        installation_id=event.installation_id,
        requested_by=event.sender_login,
        payload={
            "event": event.name,
            "payload": {
                "repository": {"full_name": event.repository},
                "installation": {"id": event.installation_id},
                "sender": {"login": event.sender_login},
                "ref": event.payload.get("ref"),
                "after": after,
            },
        },
    )
