"""The intake's decisions on signed bodies, in process: which fields are usable, which triggers are stale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.config import Settings
from app.errors import RequestRejected
from app.events import WebhookEvent, payload_problem
from app.intake import STALE_AFTER_SECONDS, Intake, parse_payload, plan_delivery
from app.metrics import create_metrics
from app.store.sqlite import SQLiteStore
from handlers import build_registry
from tests.corpus import all_examples, comment_on, github_time, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_every_corpus_example_has_usable_fields() -> None:
    """Real payloads, old GitHub Enterprise Server ones included, pass the field checks."""
    assert [name for name, payload in all_examples() if payload_problem(payload)] == []


def test_a_present_but_unusable_field_is_named_and_null_counts_as_absent() -> None:
    """Wrong types and out-of-range ids are refused by name; a null or missing field is not."""
    payload = labeled_issue(REPOSITORY, INSTALLATION_ID, 1)
    cases = [
        ("installation", "id", 2**63, "installation.id must be a whole number from 1 to"),
        ("installation", "id", True, "installation.id must be a whole number from 1 to"),
        ("issue", "number", -3, "issue.number must be a whole number from 1 to"),
        ("issue", "number", 1.0, "issue.number must be a whole number from 1 to"),
        ("label", "name", ["fixwright"], "label.name must be a string, got an array"),
        ("sender", "login", 7, "sender.login must be a string, got 7"),
        # PostgreSQL's text columns hold no NUL: refused on both engines, never a 500 there.
        ("sender", "login", "octo\x00cat", "sender.login must not contain a NUL character"),
        ("repository", "full_name", "o/\x00r", "repository.full_name must not contain a NUL"),
    ]
    for parent, key, value, expected in cases:
        changed = {**payload, parent: {**payload[parent], key: value}}
        problem = payload_problem(changed)
        assert problem is not None and problem.startswith(expected), problem
    assert payload_problem({**payload, "label": None, "installation": {"id": None}}) is None
    huge = payload_problem({**payload, "number": 10**100})
    assert (
        huge == f"number must be a whole number from 1 to {2**63 - 1}, got a number of 101 digits"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": ' + b"1" * 5000 + b"}", "more than 4300 digits"),
        (b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}", "nests arrays or objects too deeply"),
        (b'{"a": "\\udc00"}', "valid Unicode"),
        (b'{"a": 1' + b"0" * 30 + b', "b": NaN}', "64 bits"),
    ],
)
def test_what_orjson_refuses_is_read_by_the_standard_library_or_refused(
    body: bytes, message: str
) -> None:
    """Each body orjson refuses is either read or refused with a reason, never an exception."""
    with pytest.raises(RequestRejected) as refused:
        parse_payload(body)
    assert refused.value.status == 400 and message in refused.value.message


def test_nan_is_still_accepted_as_the_standard_library_reads_it() -> None:
    """orjson refuses NaN; the standard library reads it, and the store can write it back."""
    assert parse_payload(b'{"a": NaN, "b": 1}')["b"] == 1


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    store = SQLiteStore(tmp_path / "fixwright.db")
    yield Intake(
        Settings(webhook_secrets=("s",)),
        store,
        build_registry(),
        create_metrics(),
        lambda: None,
        clock=NOW.timestamp,
    )
    await store.close()


def comment_written(age: timedelta | None) -> WebhookEvent:
    payload = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/fix")
    if age is None:
        del payload["comment"]["created_at"], payload["issue"]["updated_at"]
    else:
        payload["comment"]["created_at"] = github_time(NOW - age)
    return WebhookEvent("issue_comment", "d-1", payload)


async def test_a_trigger_is_stale_only_past_the_window_and_the_skew(intake: Intake) -> None:
    """Three days and the skew allowance is the last moment a trigger is queued; a trigger
    without a time is judged by nothing else."""
    window = timedelta(seconds=STALE_AFTER_SECONDS)
    assert plan_delivery(intake, comment_written(window - timedelta(seconds=1))).outcome == "queued"
    stale = plan_delivery(intake, comment_written(window + timedelta(seconds=1)))
    assert (stale.outcome, stale.jobs, stale.cancels) == ("stale", [], [])
    assert plan_delivery(intake, comment_written(None)).outcome == "queued"
    assert timedelta(days=3) < window <= timedelta(days=3, minutes=15)


async def test_a_trigger_time_that_is_no_timestamp_is_refused(intake: Intake) -> None:
    """A signed comment whose created_at is not a time cannot be judged, so it is a bad request."""
    event = comment_written(timedelta(0))
    event.payload["comment"]["created_at"] = "yesterday"  # type: ignore[index]
    with pytest.raises(RequestRejected) as refused:
        plan_delivery(intake, event)
    assert refused.value.code == "invalid_payload" and "'yesterday'" in refused.value.message
