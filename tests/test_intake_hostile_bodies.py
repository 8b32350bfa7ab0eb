"""Correctly signed bodies that are still bad input: each gets a 400 saying what was wrong, never a 500."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from tests.corpus import comment_on, example, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fixtures.service import ServiceProcess
from tests.test_webhook_intake import assert_error

Payload = dict[str, Any]


def changed(build: Callable[[], Payload], change: Callable[[Payload], object]) -> bytes:
    payload = build()
    change(payload)
    return json.dumps(payload).encode()


def with_raw(payload: Payload, key: str, raw: str) -> bytes:
    """The payload with `key` set to raw JSON text that `json.dumps` could not write itself."""
    payload[key] = "RAW-VALUE"
    return json.dumps(payload).encode().replace(b'"RAW-VALUE"', raw.encode())


def label() -> Payload:
    return labeled_issue(REPOSITORY, INSTALLATION_ID, 1)


def fix_comment() -> Payload:
    return comment_on(REPOSITORY, INSTALLATION_ID, 1, "/fix")


def removed_repositories() -> Payload:
    payload = example("installation_repositories", "removed")
    payload["installation"]["id"] = INSTALLATION_ID
    return payload


# (event, signed body, error code, words the reason must contain)
HOSTILE = [
    ("issues", with_raw(label(), "extra", "9" * 5000), "invalid_json", "more than 4300 digits"),
    ("issues", with_raw(label(), "extra", "[" * 5000 + "]" * 5000), "invalid_json", "nests"),
    # orjson reads 1,000 levels, but the job's payload could not be written back: not stored.
    ("issues", with_raw(label(), "extra", "[" * 1000 + "]" * 1000), "invalid_payload", "254"),
    ("issues", with_raw(label(), "action", '"\\ud800"'), "invalid_payload", "valid Unicode"),
    (
        "issues",
        changed(label, lambda p: p["installation"].update(id=2**63)),
        "invalid_payload",
        "installation.id must be a whole number",
    ),
    (
        "issue_comment",
        changed(fix_comment, lambda p: p["comment"].update(id=2**64)),
        "invalid_payload",
        "comment.id",
    ),
    ("issues", changed(label, lambda p: p["issue"].update(number="1")), "invalid_payload", "issue.number"),
    ("issues", changed(label, lambda p: p["issue"].update(number=0)), "invalid_payload", "issue.number"),
    ("issues", changed(label, lambda p: p["label"].update(name={"x": 1})), "invalid_payload", "label.name"),
    ("issues", changed(label, lambda p: p.update(installation="1")), "invalid_payload", "installation must be an object"),
    ("issues", changed(label, lambda p: p.update(action=7)), "invalid_payload", "action must be a string"),
    (
        "issue_comment",
        changed(fix_comment, lambda p: p["comment"].update(body=["/fix"])),
        "invalid_payload",
        "comment.body",
    ),
    (
        "issue_comment",
        changed(fix_comment, lambda p: p["comment"].update(created_at="yesterday")),
        "invalid_payload",
        "ISO 8601",
    ),
    (
        "installation_repositories",
        changed(removed_repositories, lambda p: p.update(repositories_removed=5)),
        "invalid_payload",
        "repositories_removed must be an array",
    ),
]  # fmt: skip


def test_each_malformed_signed_body_gets_a_400_naming_the_fault(service: ServiceProcess) -> None:
    """Huge integers, deep nesting, invalid Unicode, out-of-range ids and wrongly typed fields
    each get 400 with the reason; the service then still queues a valid delivery."""
    wrong = []
    for event, body, code, reason in HOSTILE:
        response = service.post(event, body)
        if response.status_code != 400 or response.json()["error"]["code"] != code:
            wrong.append((reason, response.status_code, response.text[:200]))
        elif reason not in response.json()["error"]["message"]:
            wrong.append((reason, response.json()["error"]["message"]))
    assert wrong == []
    valid = service.post("issues", label())
    assert valid.status_code == 202 and valid.json()["status"] == "queued", valid.text


def test_a_malformed_body_is_logged_as_rejected_and_records_nothing(
    service_process: ServiceProcess,
) -> None:
    """A refused body leaves no delivery and no job behind, and its log line gives the reason."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    body = changed(label, lambda p: p["installation"].update(id=2**63))
    assert_error(service_process.post("issues", body), 400, "invalid_payload")
    [line] = [line for line in service_process.log_lines() if line["event"] == "webhook.rejected"]
    assert line["status"] == 400 and "installation.id" in line["reason"]
    with sqlite3.connect(service_process.store_path) as db:
        deliveries = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        jobs = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert (deliveries, jobs) == (0, 0)
