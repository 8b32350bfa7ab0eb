"""A real Prometheus server scrapes the running service and sees a job counted."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fixtures.service import ServiceProcess, free_port
from tests.test_fix_loop import FIX
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

SUCCEEDED_FIXES = 'fixwright_jobs_finished_total{kind="fix",state="succeeded"}'


class Prometheus:
    """A Prometheus server on 127.0.0.1 and its HTTP query API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list[dict]:
        response = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10)
        response.raise_for_status()
        return response.json()["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The first result's value, or None when there is none (or no server yet)."""
        try:
            result = self.query(promql)
        except (httpx.TransportError, httpx.HTTPStatusError):  # still starting
            return None
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(agent_service: ServiceProcess, tmp_path: Path) -> Iterator[Prometheus]:
    """Debian's prometheus, scraping the service every second."""
    scrape = {
        "job_name": "fixwright",
        "metrics_path": "/metrics/prometheus",
        "static_configs": [{"targets": [agent_service.url.removeprefix("http://")]}],
    }
    with running_prometheus(scrape, tmp_path) as server:
        yield server


@contextmanager
def running_prometheus(scrape: dict, tmp_path: Path) -> Iterator[Prometheus]:
    """Debian's prometheus with one scrape config, every second, once its target is up."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [scrape],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address={address}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://{address}")
    try:
        wait_for(lambda: server.value(f'up{{job="{scrape["job_name"]}"}}') == 1.0, timeout=60)
        yield server
    finally:
        process.terminate()
        process.wait(30)


def test_prometheus_sees_the_job_count_rise_after_a_scripted_job(
    agent_service: ServiceProcess, prometheus: Prometheus, fake_model
) -> None:
    """Before the job Prometheus reads 0 succeeded fixes; after the scripted fix, an increase of 1."""
    wait_for(lambda: prometheus.value(SUCCEEDED_FIXES) == 0.0, timeout=30)
    fake_model.set_scenario(FIX)
    agent_service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    wait_for(lambda: prometheus.value(SUCCEEDED_FIXES) == 1.0, timeout=120)
    increase = prometheus.value(f"increase({SUCCEEDED_FIXES}[5m])")
    assert increase is not None and increase > 0
    tokens = prometheus.query(
        f'sum by (kind) (fixwright_model_tokens_total{{installation="{INSTALLATION_ID}"}})'
    )
    assert {entry["metric"]["kind"] for entry in tokens} >= {"input", "output"}
    print(httpx.get(agent_service.url + "/health").text)
    print(httpx.get(agent_service.url + "/quota").text)
    print(httpx.get(agent_service.url + "/metrics/prometheus").text)
