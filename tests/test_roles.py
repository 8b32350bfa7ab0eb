"""Roles in process, served by uvicorn on a real port: a worker node answers only /health and the
metrics routes, a web node runs no worker and needs no Docker engine, and its /health counts the
worker processes alive in the registry (none is degraded, never unhealthy)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.auth import new_key
from app.health import DEGRADED, HEALTHY
from app.web import create_app
from app.workers_registry import Registration
from handlers import build_registry
from tests.fakes.github.fixtures import FakeGitHub
from tests.pg import open_test_store
from tests.test_health import served
from tests.waiting import wait_for

NO_ENGINE = "unix:///nonexistent/docker.sock"


def run(coroutine: Any) -> Any:
    """A store call from the test's thread, on a store handle of its own."""
    return asyncio.run(coroutine)


async def on_store(url: str, call: Any) -> Any:
    store = open_test_store(url)
    try:
        return await call(store)
    finally:
        await store.close()


def workers_component(url: str) -> dict[str, Any]:
    return httpx.get(url + "/health", timeout=2).json()["components"]["workers"]


def test_a_worker_node_answers_only_health_and_metrics(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    """It runs its workers and registers; every other route is a JSON 404, the intake's too."""
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)  # no engine: the worker node starts all the same
    settings = replace(
        fake_github.settings(),
        role="worker",
        webhook_secrets=(),
        store_url=store_url,
        workers=2,
        state_dir=str(tmp_path / "state"),
        reconcile_interval_seconds=0.0,
    )
    app = create_app(settings, build_registry())
    with served(app) as url:
        health = httpx.get(url + "/health")
        assert health.status_code == 200
        assert workers_component(url)["message"] == "2 of 2 alive, 0 busy"
        assert httpx.get(url + "/metrics").status_code == 200
        assert httpx.get(url + "/metrics/prometheus").status_code == 200
        for method, path in (
            ("POST", "/webhooks/github"),
            ("GET", "/v1/tasks"),
            ("GET", "/v1/workers"),
            ("GET", "/setup"),
            ("GET", "/quota"),
            ("GET", "/jobs/abc"),
        ):
            answer = httpx.request(method, url + path)
            assert answer.status_code == 404, path
            assert answer.json()["error"]["code"] == "not_found"
        [worker] = run(on_store(store_url, lambda s: s.workers()))
        assert (worker.capacity, worker.engine) == (2, NO_ENGINE)
    assert run(on_store(store_url, lambda s: s.workers())) == []  # stopped: deregistered


def test_a_web_node_runs_no_worker_and_counts_the_workers_alive_elsewhere(
    fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    settings = replace(
        fake_github.settings(),
        role="web",
        store_url=store_url,
        workers=2,  # a web node runs none, whatever this says
        state_dir=str(tmp_path / "state"),
        reconcile_interval_seconds=0.0,
    )
    app = create_app(settings, build_registry())
    with served(app) as url:
        none = wait_for(lambda: (c := workers_component(url))["checked_at"] and c)
        assert (none["status"], none["message"]) == (
            DEGRADED,
            "0 worker processes alive: jobs wait in the queue",
        )
        health = httpx.get(url + "/health")
        assert health.status_code == 200 and health.json()["status"] == DEGRADED
        assert health.json()["components"]["docker"]["message"].startswith("not used")
        assert run(on_store(store_url, lambda s: s.workers())) == []  # it registered nothing

        elsewhere = Registration(capacity=3, engine="tcp://engine-b:2376", id="b:7:abcdef")
        run(on_store(store_url, lambda s: s.beat_worker(elsewhere.record(("j1",), time.time()))))
        counted = wait_for(lambda: (c := workers_component(url))["status"] == HEALTHY and c)
        assert counted["message"] == "1 worker processes alive elsewhere, 3 workers, 1 busy"

        operator = new_key("ops", ("audit:read",), time.time() - 60)
        client = new_key("ci", ("tasks:read", "tasks:write"), time.time() - 60)
        run(on_store(store_url, lambda s: s.add_api_key(operator.record)))
        run(on_store(store_url, lambda s: s.add_api_key(client.record)))
        listed = httpx.get(url + "/v1/workers", headers={"Authorization": f"Bearer {operator.key}"})
        assert listed.status_code == 200
        [shown] = listed.json()["workers"]
        assert {k: shown[k] for k in ("id", "engine", "capacity", "running", "status")} == {
            "id": "b:7:abcdef",
            "engine": "tcp://engine-b:2376",
            "capacity": 3,
            "running": ["j1"],
            "status": "alive",
        }
        refused = httpx.get(url + "/v1/workers", headers={"Authorization": f"Bearer {client.key}"})
        assert refused.status_code == 403
        assert httpx.get(url + "/v1/workers").status_code == 401
