"""Webhook intake over HTTP, on a real `fixwright serve`: what GitHub and octokit specify."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.corpus import comment_on, example, github_time, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
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


def test_wrong_and_malformed_signatures_get_401(service: ServiceProcess) -> None:
    """A signature made with another secret, or not a signature at all, is refused."""
    payload = labeled_issue(REPOSITORY, INSTALLATION_ID, 1)
    assert_error(service.post("issues", payload, secret="not-the-secret"), 401, "invalid_signature")
    malformed = service.post("issues", payload, headers={"X-Hub-Signature-256": "sha256=nothex"})
    assert_error(malformed, 401, "invalid_signature")


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


def test_ping_answers_200(service: ServiceProcess) -> None:
    """GitHub's ping on App creation succeeds."""
    response = service.post("ping", example("ping"))
    assert response.status_code == 200
    assert response.json() == {"status": "pong"}


def test_events_no_handler_wants_are_acknowledged_as_ignored(service: ServiceProcess) -> None:
    """A star, or an issue labeled with another label, gets 202 ignored and creates no job."""
    assert service.post("star", example("star")).json() == {"status": "ignored"}
    other_label = labeled_issue(REPOSITORY, INSTALLATION_ID, 1, label="bug")
    response = service.post("issues", other_label)
    assert response.status_code == 202 and response.json() == {"status": "ignored"}


def test_a_webhook_url_with_a_trailing_slash_is_served(service: ServiceProcess) -> None:
    """An App whose webhook URL ends in a slash still gets its deliveries in: GitHub follows no
    redirect, so a 307 to the other spelling would fail every delivery."""
    response = service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 3), path=TRAILING)
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert_error(
        service.post("issues", b"{}", secret="wrong", path=TRAILING), 401, "invalid_signature"
    )


def test_a_labeled_issue_is_queued_then_acknowledged_on_github(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """The trigger label yields 202 with a job id, and the worker puts 👀 on the issue."""
    response = service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    assert response.status_code == 202
    assert response.json()["status"] == "queued" and len(response.json()["jobs"]) == 1
    reaction = wait_for(lambda: fake_github.state.reactions)[0]
    assert (reaction.subject, reaction.subject_id, reaction.content) == ("issue", 1, "eyes")


def test_a_redelivery_is_acknowledged_and_not_run_twice_even_after_a_restart(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """The same X-GitHub-Delivery id gets 202 duplicate, before and after the service restarts."""
    delivery_id = str(uuid.uuid4())
    payload = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help")
    assert (
        service.post("issue_comment", payload, delivery_id=delivery_id).json()["status"] == "queued"
    )
    assert service.post("issue_comment", payload, delivery_id=delivery_id).json() == {
        "status": "duplicate"
    }
    wait_for(lambda: fake_github.state.comments)
    service.stop()
    service.start()
    again = service.post("issue_comment", payload, delivery_id=delivery_id)
    assert again.status_code == 202 and again.json() == {"status": "duplicate"}
    # A later request on the same issue runs after anything queued before it (one target's jobs
    # run in order): once it is done, a wrongly queued redelivery would have run too.
    later = service.post("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help"))
    [later_job] = later.json()["jobs"]
    wait_for(lambda: job_state(service, later_job) == "succeeded")
    assert job_count(service) == 2  # the first delivery's job and the later one's, no third
    assert len(fake_github.state.comments) == 1


def job_state(service: ServiceProcess, job_id: str) -> str | None:
    with sqlite3.connect(service.store_path) as db:
        row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def job_count(service: ServiceProcess) -> int:
    with sqlite3.connect(service.store_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def test_a_signed_body_replayed_under_a_new_delivery_id_queues_nothing(
    service_process: ServiceProcess,
) -> None:
    """The same signed trigger posted again with a fresh X-GitHub-Delivery is answered duplicate,
    before and after a restart, and only the first made a job."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    body = json.dumps(labeled_issue(REPOSITORY, INSTALLATION_ID, 5)).encode()
    assert service_process.post("issues", body).json()["status"] == "queued"
    assert service_process.post("issues", body).json() == {"status": "duplicate"}
    service_process.stop()
    service_process.start(FIXWRIGHT_WORKERS="0")
    again = service_process.post("issues", body)
    assert again.status_code == 202 and again.json() == {"status": "duplicate"}
    assert job_count(service_process) == 1


def test_a_trigger_older_than_githubs_redelivery_window_is_ignored_as_stale(
    service_process: ServiceProcess,
) -> None:
    """A label or comment from 4 days ago gets 202 stale, a log line saying why and no job; one
    from within the 3-day window is queued."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    now = datetime.now(UTC)
    old_label = labeled_issue(REPOSITORY, INSTALLATION_ID, 1)
    old_label["issue"]["updated_at"] = github_time(now - timedelta(days=4))
    old_comment = comment_on(REPOSITORY, INSTALLATION_ID, 2, "/fix")
    old_comment["comment"]["created_at"] = github_time(now - timedelta(days=4))
    recent = labeled_issue(REPOSITORY, INSTALLATION_ID, 3)
    recent["issue"]["updated_at"] = github_time(now - timedelta(days=2, hours=23))

    for event, payload in (("issues", old_label), ("issue_comment", old_comment)):
        response = service_process.post(event, payload)
        assert response.status_code == 202 and response.json() == {"status": "stale"}
    assert service_process.post("issues", recent).json()["status"] == "queued"
    assert job_count(service_process) == 1
    stale = [line for line in service_process.log_lines() if line["event"] == "webhook.stale"]
    assert len(stale) == 2 and "redelivery window" in stale[0]["reason"]
    assert stale[0]["trigger_age_hours"] == 96.0


def test_help_command_answers_in_the_thread(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """`/help` on an issue gets one comment listing the commands, written by the App."""
    service.post("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help"))
    comment = wait_for(lambda: list(fake_github.state.comments.values()))[0]
    assert "/review" in comment.body and "`fixwright` label" in comment.body
    assert comment.user == fake_github.state.bot_login


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
