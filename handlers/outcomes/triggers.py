"""Which deliveries may move a pull request fixwright opened: `pull_request` closed (merged or
not) or reopened.

The planner only narrows by the head branch (fixwright's prefix, in the same repository), so a
repository's other pull requests queue nothing; whether the pull request is really one
fixwright opened is decided by the store, which recorded it when the fix job opened it: a branch
name anyone can choose never makes a pull request count.
"""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent, dig
from app.store import NewJob

NAME = "pr_outcome"
PULL_ACTIONS = frozenset({"closed", "reopened"})
# What the job keeps of the delivery: the fields the handler reads, not the PR's body.
PULL_FIELDS = ("number", "merged", "merged_at", "closed_at", "updated_at")


def on_fixwright_branch(event: WebhookEvent, settings: Settings) -> bool:
    head_ref = dig(event.payload, "pull_request", "head", "ref")
    head_repo = dig(event.payload, "pull_request", "head", "repo", "full_name")
    return (
        isinstance(head_ref, str)
        and head_ref.startswith(settings.branch_prefix)
        and head_repo == event.repository
    )


def kept_ids(event: WebhookEvent) -> dict[str, object]:
    """What a job keeps of a delivery besides its own fields: the action, and the ids its log
    lines carry (repository, installation, sender)."""
    return {
        "action": event.action,
        "repository": {"full_name": event.repository},
        "installation": {"id": event.installation_id},
        "sender": {"login": event.sender_login},
    }


def plan_pull_request_outcome(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """A pull request on fixwright's branch was closed (merged or not) or reopened."""
    number = event.issue_number
    if (
        event.action not in PULL_ACTIONS
        or number is None
        or not event.repository
        or not on_fixwright_branch(event, settings)
    ):
        return None
    pull = event.payload.get("pull_request") or {}
    kept = {key: pull.get(key) for key in PULL_FIELDS}
    return NewJob(
        kind=NAME,
        repository=event.repository,
        # A target of its own: recording never waits behind a follow-up running on the PR.
        target=f"{event.repository}#{number}/outcome",
        number=number,
        installation_id=event.installation_id,
        requested_by=event.sender_login,
        payload={"event": event.name, "payload": {**kept_ids(event), "pull_request": kept}},
    )
