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

from app.health import (
    DEGRADED,
    HEALTHY,
    STARTING,
    UNHEALTHY,
    Component,
    HealthMonitor,
    Reading,
    Schedule,
    health_report,
    overall_status,
)
from app.routing import Registry
from app.web import create_app
from tests.fakes.github.fixtures import FakeGitHub
from tests.fakes.github.silent import silent_github
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for, wait_until

COMPONENTS = {
    *("store", "docker", "sandbox_image", "github_app", "model_relay", "workers"),
    "work_branches",
}
METRICS_TOKEN = "metrics-token-for-tests-0123456789"


def assert_no_secret(text: str, *secrets: str) -> None:
    """No installation token, model key or configured secret appears in `text`."""
    assert "ghs_" not in text
    assert "sk-ant-" not in text
    for secret in secrets:
        assert secret and secret not in text


def health_once_checked(url: str, *names: str) -> Any:
    """The /health answer once the named components have been checked at least once (each
    request within 1 s: /health never waits on a dependency)."""

    def answer() -> Any:
        response = httpx.get(url + "/health", timeout=1)
        components = response.json()["components"]
        return all(components[name]["checked_at"] for name in names) and response

    return wait_for(answer, timeout=30)


def test_health_reports_every_dependency(service: ServiceProcess, fake_github: FakeGitHub) -> None:
    """Each dependency has a status, a message and its age; GitHub accepts the App's JWT; no model key is degraded."""
    response = health_once_checked(service.url, *COMPONENTS)
    body = response.json()
    assert response.status_code == 200
    assert set(body["components"]) == COMPONENTS
    assert {"status", "timestamp", "uptime", "version"} <= set(body)
    assert body["components"]["store"]["status"] == HEALTHY
    assert body["components"]["github_app"]["status"] == HEALTHY
    workers = body["components"]["workers"]
    assert (workers["status"], workers["message"]) == (HEALTHY, "1 of 1 alive, 0 busy")
    assert all(c["age_seconds"] >= 0 for c in body["components"].values())
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
    image = health_once_checked(service.url, "sandbox_image").json()["components"]["sandbox_image"]
    assert image["status"] == HEALTHY
    assert sandbox_image in image["message"] and "Claude Code 2." in image["message"]


def test_a_missing_sandbox_image_degrades_health(service_process: ServiceProcess) -> None:
    """An image that is not there degrades the service and says how to build it."""
    service_process.env["FIXWRIGHT_SANDBOX_IMAGE"] = "fixwright-sandbox:not-built-here"
    service = service_process.start()
    body = health_once_checked(service.url, "sandbox_image").json()
    assert body["status"] == DEGRADED
    assert "fixwright sandbox build" in body["components"]["sandbox_image"]["message"]


def test_the_app_check_asks_github_at_most_once_a_minute(
    service_process: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """Many /health calls make one GET /app, not one each (the App's slug is configured, so
    the start-up asks GitHub nothing)."""
    service = service_process.start(FIXWRIGHT_APP_SLUG="fixwright")
    health_once_checked(service.url, "github_app")
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
        wait_for(lambda: server.started or not thread.is_alive())
        assert server.started, "the service did not start"
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
    app = create_app(settings, Registry([]))
    with served(app) as url:
        assert health_once_checked(url, "store").status_code == 200
        asyncio.run(app.state.ops.store.close())
        response = wait_for(lambda: (r := httpx.get(url + "/health")).status_code == 503 and r)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == UNHEALTHY
    store = body["components"]["store"]
    assert (store["status"], store["message"]) == (
        UNHEALTHY,
        "store query failed (ProgrammingError)",
    )


def test_only_vital_parts_make_the_service_unhealthy() -> None:
    """A failed store or dead workers is unhealthy; anything else failing is degraded."""
    ok = Component(HEALTHY, "")
    assert overall_status({"store": ok, "docker": ok}) == HEALTHY
    assert overall_status({"store": ok, "docker": Component(DEGRADED, "")}) == DEGRADED
    assert overall_status({"store": ok, "workers": Component(UNHEALTHY, "")}) == UNHEALTHY


def test_until_the_store_is_checked_the_service_says_starting() -> None:
    """Before a vital part's first reading the service is starting (503); after it, its age shows."""
    monitor = HealthMonitor(
        schedules={"store": Schedule(never_called), "github_app": Schedule(never_called)},
        live={"workers": lambda: Component(HEALTHY, "1 of 1 alive, 0 busy")},
        clock=lambda: 1_000_100.0,
    )
    starting = health_report(monitor, started=time.monotonic()).full()
    assert starting["status"] == STARTING
    assert starting["components"]["store"] == {
        "status": STARTING,
        "message": "not checked yet",
        "checked_at": None,
        "age_seconds": None,
    }
    monitor.readings["store"] = Reading(Component(HEALTHY, "a query answered"), 1_000_090.0)
    checked = health_report(monitor, started=time.monotonic()).full()
    assert checked["status"] == DEGRADED  # GitHub is not checked yet
    assert checked["components"]["store"]["age_seconds"] == 10.0
    assert checked["components"]["workers"]["age_seconds"] == 0.0


async def never_called() -> Component:
    raise AssertionError("the monitor was not started")


def test_health_answers_at_once_while_github_does_not_answer(
    service_process: ServiceProcess,
) -> None:
    """With GitHub hanging, /health answers within the client's 1 s timeout and says how old
    its GitHub reading is."""
    with silent_github() as url:
        service_process.env["FIXWRIGHT_GITHUB_API_URL"] = url
        service = service_process.start()
        first = httpx.get(service.url + "/health", timeout=1)
        assert first.json()["components"]["github_app"]["status"] in (STARTING, DEGRADED)
        github = health_once_checked(service.url, "github_app").json()["components"]["github_app"]
    assert github["status"] == DEGRADED
    assert "answer" in github["message"] and "within 5 s" in github["message"]
    assert github["age_seconds"] >= 0 and github["checked_at"]


async def test_a_check_that_hangs_reads_as_failed_until_its_late_answer_comes() -> None:
    """A hung check is reported as failed after its timeout but left to run (a thread on a hung
    engine cannot be stopped), and its late answer replaces the failure."""
    started = 0
    release = asyncio.Event()

    async def hung_engine() -> Component:
        nonlocal started
        started += 1
        await release.wait()
        return Component(HEALTHY, "the engine answered a ping")

    monitor = HealthMonitor({"docker": Schedule(hung_engine, every=60, timeout=0.05)}, live={})
    monitor.start()
    try:
        late = await wait_until(lambda: monitor.readings.get("docker"))
        assert late.component == Component(DEGRADED, "no answer within 0.05 s")
        release.set()
        answered = await wait_until(
            lambda: (r := monitor.readings["docker"]).component.status == HEALTHY and r
        )
        assert answered.component.message == "the engine answered a ping"
        assert started == 1  # the same check, not a second one beside it
    finally:
        await monitor.stop()
