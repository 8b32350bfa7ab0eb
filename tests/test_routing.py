"""Routing is data: the registered events match the App manifest, and triggers follow the policy."""

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from app.config import Settings
from app.events import WebhookEvent
from app.kinds import Trigger
from app.routing import Registry, RoutingError
from handlers import build_registry, fix
from handlers.lifecycle import ALWAYS_DELIVERED

SETTINGS = Settings(webhook_secrets=("s",))
MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def event(name: str, **payload: object) -> WebhookEvent:
    base = {
        "repository": {"full_name": "octo-org/hello"},
        "installation": {"id": 1001},
        "sender": {"login": "maintainer", "type": "User"},
    }
    return WebhookEvent(name=name, delivery_id="d-1", payload={**base, **payload})


def test_registered_events_equal_the_manifests_default_events() -> None:
    """The App subscribes to exactly the events some handler wants (GitHub sends the lifecycle ones unasked)."""
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert build_registry().events() - ALWAYS_DELIVERED == set(manifest["default_events"])


def test_every_job_kind_asks_only_for_permissions_the_manifest_grants() -> None:
    """A job's down-scoped token can never ask for more than the App was given."""
    granted = yaml.safe_load(MANIFEST.read_text())["default_permissions"]
    levels = {"read": 1, "write": 2}
    for kind in build_registry().kinds.values():
        for permission, level in kind.permissions.items():
            assert levels[level] <= levels[granted[permission]], (kind.name, permission)


def test_unknown_event_names_are_rejected_at_registration() -> None:
    """A typo in an event name fails when the module loads, not silently at run time."""
    typo = replace(fix.KIND, triggers=(Trigger("issue_comments", "created", lambda e, s: None),))
    with pytest.raises(RoutingError, match="issue_comments"):
        Registry([typo])


def test_the_trigger_label_queues_a_fix_job_and_other_labels_do_not() -> None:
    """Only the configured label on an issue, added by a human, queues a fix."""
    registry = build_registry()
    [job] = registry.plan(
        event("issues", action="labeled", label={"name": "fixwright"}, issue={"number": 5}),
        SETTINGS,
    )
    assert (job.kind, job.target, job.requested_by) == ("fix", "octo-org/hello#5", "maintainer")
    assert (
        registry.plan(
            event("issues", action="labeled", label={"name": "bug"}, issue={"number": 5}), SETTINGS
        )
        == []
    )
    assert (
        registry.plan(
            event("issues", action="opened", label={"name": "fixwright"}, issue={"number": 5}),
            SETTINGS,
        )
        == []
    )


def test_bots_and_edited_comments_never_trigger() -> None:
    """The App's own comments, other bots and edits of a comment are ignored."""
    registry = build_registry()
    issue = {"number": 3}
    bot = {"login": "fixwright[bot]", "type": "Bot"}
    assert (
        registry.plan(
            event(
                "issue_comment",
                action="created",
                issue=issue,
                comment={"body": "/help", "id": 1},
                sender=bot,
            ),
            SETTINGS,
        )
        == []
    )
    assert (
        registry.plan(
            event(
                "issue_comment", action="edited", issue=issue, comment={"body": "/help", "id": 1}
            ),
            SETTINGS,
        )
        == []
    )
    assert (
        len(
            registry.plan(
                event(
                    "issue_comment",
                    action="created",
                    issue=issue,
                    comment={"body": "/help", "id": 1},
                ),
                SETTINGS,
            )
        )
        == 1
    )


def test_commands_go_where_they_make_sense() -> None:
    """/review only on pull requests, /fix a fix on issues and a follow-up on pull requests,
    prose mentioning a command does nothing."""
    registry = build_registry()
    pull = {"number": 8, "pull_request": {"url": "x"}}
    issue = {"number": 9}

    def kinds(body: str, where: dict[str, object]) -> list[str]:
        payload = event(
            "issue_comment", action="created", issue=where, comment={"body": body, "id": 2}
        )
        return [job.kind for job in registry.plan(payload, SETTINGS)]

    assert kinds("/review", pull) == ["review"]
    assert kinds("/review", issue) == []
    assert kinds("/fix also update the docs", issue) == ["fix"]
    assert kinds("/fix", pull) == ["followup"]
    assert kinds("please run /fix later", issue) == []
    assert kinds("/unknown", issue) == []
