"""GET /health: one entry per dependency, an honest overall status, and never a secret."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import uvicorn

from app.health import DEGRADED, HEALTHY, UNHEALTHY, Component, overall_status
from app.routing import Router
from app.web import create_app
from tests.fakes.github.fixtures import FakeGitHub
from tests.fixtures.service import ServiceProcess

COMPONENTS = {"store", "docker", "sandbox_image", "github_app", "model_relay", "workers"}
METRICS_TOKEN = "metrics-token-for-tests-0123456789"


def assert_no_secret(text: str, *secrets: str) -> None:
    """No installation token, model key or configured secret appears in `text`."""
    assert "ghs_" not in text
    assert "sk-ant-" not in text
    for secret in secrets:
        assert secret and secret not in text


def test_health_reports_every_dependency(service: ServiceProcess, fake_github: FakeGitHub) -> None:
    """Each dependency has a status and a message; GitHub accepts the App's JWT; no model key is degraded."""
    response = httpx.get(service.url + "/health")
    body = response.json()
    assert response.status_code == 200
    assert set(body["components"]) == COMPONENTS
    assert {"status", "timestamp", "uptime", "version"} <= set(body)
    assert body["components"]["store"]["status"] == HEALTHY
    assert body["components"]["github_app"]["status"] == HEALTHY
    assert body["components"]["workers"] == {"status": HEALTHY, "message": "1 of 1 alive, 0 busy"}
    assert body["components"]["model_relay"]["status"] == DEGRADED
    assert body["status"] == DEGRADED
    assert_no_secret(response.text, fake_github.private_key, "webhook-secret-for-tests")


@pytest.mark.docker
def test_health_names_the_sandbox_image_and_its_cli(
    service_process: ServiceProcess, sandbox_image: str
) -> None:
    """With the sandbox image present, /health names it and the Claude Code version inside."""
    service_process.env["FIXWRIGHT_SANDBOX_IMAGE"] = sandbox_image
    service = service_process.start()
    image = httpx.get(service.url + "/health").json()["components"]["sandbox_image"]
    assert image["status"] == HEALTHY
    assert sandbox_image in image["message"] and "Claude Code 2." in image["message"]


def test_a_missing_sandbox_image_degrades_health(service_process: ServiceProcess) -> None:
    """An image that is not there degrades the service and says how to build it."""
    service_process.env["FIXWRIGHT_SANDBOX_IMAGE"] = "fixwright-sandbox:not-built-here"
    service = service_process.start()
    body = httpx.get(service.url + "/health").json()
    assert body["status"] == DEGRADED
    assert "fixwright sandbox build" in body["components"]["sandbox_image"]["message"]


def test_the_app_check_asks_github_at_most_once_a_minute(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """Many /health calls make one GET /app, not one each."""
    for _ in range(5):
        httpx.get(service.url + "/health")
    app_calls = [r for r in fake_github.state.requests if r.path == "/app"]
    assert len(app_calls) == 1


def test_without_the_token_health_says_less(
    service_process: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """With a metrics token set, an anonymous caller sees statuses only; the token shows everything."""
    service_process.env["FIXWRIGHT_METRICS_TOKEN"] = METRICS_TOKEN
    service = service_process.start()
    brief = httpx.get(service.url + "/health")
    assert brief.status_code == 200
    assert "message" not in brief.text and "version" not in brief.json()
    full = httpx.get(service.url + "/health", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert full.json()["components"]["store"]["message"] == "a query answered"
    assert_no_secret(full.text + brief.text, METRICS_TOKEN, fake_github.private_key)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app under uvicorn, lifespan included, on a fresh 127.0.0.1 port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the service did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_a_broken_store_makes_the_service_unhealthy(fake_github: FakeGitHub, tmp_path) -> None:
    """When the store stops answering, /health says unhealthy with 503."""
    settings = replace(
        fake_github.settings(),
        store_url=f"sqlite:///{tmp_path / 'fixwright.db'}",
        workers=0,
        state_dir=str(tmp_path),
    )
    app = create_app(settings, Router())
    with served(app) as url:
        assert httpx.get(url + "/health").status_code == 200
        asyncio.run(app.state.ops.store.close())
        response = httpx.get(url + "/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == UNHEALTHY
    assert body["components"]["store"] == {
        "status": UNHEALTHY,
        "message": "store query failed (ProgrammingError)",
    }


def test_only_vital_parts_make_the_service_unhealthy() -> None:
    """A failed store or dead workers is unhealthy; anything else failing is degraded."""
    ok = Component(HEALTHY, "")
    assert overall_status({"store": ok, "docker": ok}) == HEALTHY
    assert overall_status({"store": ok, "docker": Component(DEGRADED, "")}) == DEGRADED
    assert overall_status({"store": ok, "workers": Component(UNHEALTHY, "")}) == UNHEALTHY
