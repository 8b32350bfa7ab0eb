"""GET /metrics/prometheus and /metrics: every documented metric, promtool-clean, bounded, no secret."""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from dataclasses import fields
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import DECLARED, Metrics, create_metrics
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, WEBHOOK_SECRET, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.test_health import METRICS_TOKEN, assert_no_secret
from tests.waiting import wait_for

DOCS = Path(__file__).parent.parent / "docs" / "metrics.md"


def documented_metrics() -> set[str]:
    """The metric names docs/metrics.md lists (its table's first column)."""
    return set(re.findall(r"^\| `(fixwright_[a-z_]+)`", DOCS.read_text(), re.MULTILINE))


def exported_names(text: str) -> set[str]:
    """Every sample name in a Prometheus text exposition."""
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples} | {
        f.name for f in text_string_to_metric_families(text)
    }


def scrape(
    service: ServiceProcess, path: str = "/metrics/prometheus", **headers: str
) -> httpx.Response:
    return httpx.get(service.url + path, headers=headers, timeout=10)


def test_every_documented_metric_is_exported(service: ServiceProcess) -> None:
    """The docs' metrics list and the exposition agree, so the list stays true."""
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    response = scrape(service)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {
        f.name + ("_total" if f.type == "counter" else "")
        for f in text_string_to_metric_families(response.text)
        if not f.name.endswith("_created")  # the client's own creation-time series
    }
    assert documented_metrics() == families


def test_a_delivery_is_counted_without_its_id(service: ServiceProcess) -> None:
    """A labeled issue counts as a queued `issues` delivery; its id never becomes a label."""
    delivery_id = str(uuid.uuid4())
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1), delivery_id=delivery_id)
    text = scrape(service).text
    assert 'fixwright_webhook_deliveries_total{event="issues",outcome="queued"} 1.0' in text
    assert delivery_id not in text
    assert "fixwright_webhook_intake_seconds_count 1.0" in text


def test_a_rejected_delivery_is_counted_with_its_reason(service: ServiceProcess) -> None:
    """A mis-signed delivery shows as rejected with the reason invalid_signature."""
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1), secret="wrong")
    text = scrape(service).text
    assert (
        'fixwright_webhook_deliveries_total{event="issues",outcome="invalid_signature"} 1.0' in text
    )


def test_a_sender_that_hangs_up_mid_body_is_counted(service: ServiceProcess) -> None:
    """A request whose body never arrives is nobody's to answer, but it shows as `abandoned`."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sender:
        sender.sendall(
            b"POST /webhooks/github HTTP/1.1\r\nHost: fixwright\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
            b"X-GitHub-Event: issues\r\nX-GitHub-Delivery: gone-1\r\n"
            b'X-Hub-Signature-256: sha256=00\r\n\r\n{"action": '
        )
    abandoned = 'fixwright_webhook_deliveries_total{event="issues",outcome="abandoned"} 1.0'
    assert wait_for(lambda: abandoned in scrape(service).text)


def test_the_exposition_passes_promtool(service: ServiceProcess, tmp_path: Path) -> None:
    """`promtool check metrics` finds nothing to complain about."""
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    checked = subprocess.run(
        ["promtool", "check", "metrics"],
        input=scrape(service).content,
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b""


def test_the_json_summary_has_the_same_metrics(service: ServiceProcess) -> None:
    """GET /metrics carries every family of the Prometheus text, with its samples."""
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    summary = scrape(service, "/metrics").json()
    families = {
        f.name
        for f in text_string_to_metric_families(scrape(service).text)
        if not f.name.endswith("_created")
    }
    assert set(summary) == families
    [queued] = [
        s
        for s in summary["fixwright_webhook_deliveries"]["samples"]
        if s["labels"] == {"event": "issues", "outcome": "queued"}
    ]
    assert queued["value"] == 1.0


def test_a_metrics_token_guards_metrics_and_quota(
    service_process: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """With FIXWRIGHT_METRICS_TOKEN set, /metrics* and /quota answer 401 without it, 200 with it."""
    service_process.env["FIXWRIGHT_METRICS_TOKEN"] = METRICS_TOKEN
    service = service_process.start()
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    texts = []
    for path in ("/metrics", "/metrics/prometheus", "/quota"):
        refused = scrape(service, path)
        wrong = scrape(service, path, Authorization="Bearer not-the-token")
        allowed = scrape(service, path, **bearer)
        assert (refused.status_code, wrong.status_code, allowed.status_code) == (401, 401, 200)
        assert refused.headers["www-authenticate"] == "Bearer"
        texts += [refused.text, wrong.text, allowed.text]
    assert_no_secret("".join(texts), METRICS_TOKEN, fake_github.private_key, WEBHOOK_SECRET)


def test_each_field_of_metrics_is_made_from_its_declaration() -> None:
    """The typed fields and the declaration table agree: same names, each of its declared kind."""
    declared = {name: declaration.make.__name__ for name, declaration in DECLARED.items()}
    typed = {field.name: field.type for field in fields(Metrics) if field.name != "registry"}
    assert declared == typed
    metrics = create_metrics()
    for name, declaration in DECLARED.items():
        assert isinstance(getattr(metrics, name), declaration.make), name
