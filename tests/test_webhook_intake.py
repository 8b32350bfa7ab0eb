"""Webhook intake over HTTP, on a real `fixwright serve`: what GitHub and octokit specify.

The intake's answers to signed deliveries (queued, duplicate, replay, 401, ping, ignored, stale)
are shown in process by `tests/test_intake.py`.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import httpx

from tests.corpus import comment_on, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fakes.github.webhooks import delivery_headers
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

TRAILING = "/webhooks/github/"
MB = 1024 * 1024


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    return body["error"]["message"]


def test_missing_headers_are_each_named(service: ServiceProcess) -> None:
    """A request without GitHub's headers gets 400 listing every missing one."""
    response = httpx.post(
        service.url + "/webhooks/github",
        content=b"{}",
        headers={"content-type": "application/json"},
    )
    message = assert_error(response, 400, "missing_headers")
    for header in ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"):
        assert header in message


def test_non_json_content_type_gets_415(service: ServiceProcess) -> None:
    """Form-encoded deliveries (a webhook misconfigured in GitHub) are refused with the fix named."""
    message = assert_error(
        service.post(
            "issues",
            b"payload=%7B%7D",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
        "unsupported_media_type",
    )
    assert "application/json" in message


def test_bodies_over_25_mb_get_413_with_or_without_content_length(service: ServiceProcess) -> None:
    """Both a declared and a streamed (chunked) oversized body are refused."""
    big = b"{" + b" " * (25 * MB) + b"}"
    assert_error(service.post("issues", big), 413, "payload_too_large")
    headers = delivery_headers("issues", big, "irrelevant", str(uuid.uuid4()))

    def chunks():
        for start in range(0, len(big), MB):
            yield big[start : start + MB]

    response = httpx.post(
        service.url + "/webhooks/github", content=chunks(), headers=headers, timeout=30
    )
    assert_error(response, 413, "payload_too_large")


def test_invalid_json_with_a_valid_signature_gets_400(service: ServiceProcess) -> None:
    """A correctly signed body that is not JSON is a bad request, not a crash."""
    assert_error(service.post("issues", b"{not json"), 400, "invalid_json")
    assert_error(service.post("issues", b"[1, 2]"), 400, "invalid_json")


def test_a_webhook_url_with_a_trailing_slash_is_served(service: ServiceProcess) -> None:
    """An App whose webhook URL ends in a slash still gets its deliveries in: GitHub follows no
    redirect, so a 307 to the other spelling would fail every delivery."""
    response = service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 3), path=TRAILING)
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert_error(
        service.post("issues", b"{}", secret="wrong", path=TRAILING), 401, "invalid_signature"
    )


def test_unknown_paths_and_methods_get_json_errors(service: ServiceProcess) -> None:
    """404 and 405 are JSON errors too, never HTML or a 500."""
    assert_error(httpx.get(service.url + "/nowhere"), 404, "not_found")
    assert_error(httpx.get(service.url + "/webhooks/github"), 405, "method_not_allowed")


def test_health_answers(service: ServiceProcess) -> None:
    """GET /health answers 200 with the store reachable (the full report is tested in test_health)."""
    response = httpx.get(service.url + "/health")
    assert response.status_code == 200
    assert response.json()["status"] in ("healthy", "degraded")


def test_each_delivery_logs_one_line_with_its_ids_and_no_secret(service: ServiceProcess) -> None:
    """The log line for a delivery carries its id, event, installation and repo; no secret appears."""
    delivery_id = str(uuid.uuid4())
    service.post(
        "issue_comment",
        comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help"),
        delivery_id=delivery_id,
    )
    lines = wait_for(
        lambda: [
            line
            for line in service.log_lines()
            if line.get("delivery_id") == delivery_id and line["event"] == "webhook.received"
        ]
    )
    assert len(lines) == 1
    assert lines[0]["installation_id"] == INSTALLATION_ID and lines[0]["repo"] == REPOSITORY
    wait_for(lambda: any(line["event"] == "job.finished" for line in service.log_lines()))
    logs = service.logs()
    assert service.env["FIXWRIGHT_WEBHOOK_SECRET"] not in logs
    assert "ghs_" not in logs
    assert json.dumps(service.env["FIXWRIGHT_PRIVATE_KEY"])[1:40] not in logs


def test_a_store_locked_too_long_gets_503_and_the_delivery_is_taken_later(
    service: ServiceProcess,
) -> None:
    """Another process holds the store's write lock past the intake's patience: the delivery is
    refused with 503 and a reason (GitHub marks it failed), and its redelivery is recorded."""
    other = sqlite3.connect(service.store_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    payload = labeled_issue(REPOSITORY, INSTALLATION_ID, 7)
    delivery_id = str(uuid.uuid4())
    try:
        refused = service.post("issues", payload, delivery_id=delivery_id)
    finally:
        other.execute("COMMIT")
        other.close()
    message = assert_error(refused, 503, "store_unavailable")
    assert "database is locked" in message and "not recorded" in message
    redelivered = service.post("issues", payload, delivery_id=delivery_id)
    assert redelivered.status_code == 202, redelivered.text
    assert redelivered.json()["status"] == "queued"
