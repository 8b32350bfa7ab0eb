"""The queue and worker gauges come from the shared store: two nodes on one database report the
same figures, by kind and by worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from app.metrics import Metrics, create_metrics, refresh_cluster_gauges, start_job_series
from app.store import Delivery, NewJob
from app.store.postgres import PostgresStore
from app.store.sqlite import SQLiteStore
from app.store.workers import WorkerRecord
from tests.pg import open_test_store

# One node's store: the engine each test runs on.
Node = SQLiteStore | PostgresStore


def open_node(url: str, **options: Any) -> Node:
    store = open_test_store(url, **options)
    assert isinstance(store, SQLiteStore | PostgresStore)
    return store


NOW = 1_800_000_000.0


@pytest.fixture
async def nodes(store_url: str) -> AsyncIterator[tuple[Node, Node]]:
    clock = lambda: NOW  # noqa: E731 (the jobs' creation times)
    a = open_node(store_url, clock=clock)
    b = open_node(store_url, clock=clock)
    yield a, b
    await a.close()
    await b.close()


def new_job(kind: str, n: int) -> NewJob:
    return NewJob(
        kind=kind,
        repository="o/r",
        target=f"o/r#{kind}-{n}",
        installation_id=1,
        requested_by="someone",
        payload={},
        number=n,
    )


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def exposition(metrics: Metrics) -> list[str]:
    """The queue's and workers' lines of a scrape."""
    text = generate_latest(metrics.registry).decode()
    wanted = ("fixwright_queue", "fixwright_worker_running", "fixwright_worker_capacity")
    return sorted(line for line in text.splitlines() if line.startswith(wanted))


async def test_every_node_reports_the_clusters_queue_by_kind(
    nodes: tuple[Node, Node],
) -> None:
    """Jobs queued through one node and leased by the other show the same on both: queued and
    running per kind, the oldest queued job's age per kind, and 0 where a kind has none left."""
    a, b = nodes
    await a.record_delivery(
        Delivery(id="d1", event="issues", installation_id=1),
        [new_job("fix", 1), new_job("fix", 2), new_job("review", 3)],
    )
    leased = await b.lease("node-b/0", lease_seconds=600)
    assert leased is not None and leased.kind == "fix"
    scraped = []
    for store in (a, b):
        metrics = create_metrics()
        start_job_series(metrics, ["fix", "review", "help"])
        await refresh_cluster_gauges(store, metrics, NOW + 90)
        scraped.append(metrics)
    node_a, node_b = scraped
    assert exposition(node_a) == exposition(node_b)
    assert sample(node_a, "fixwright_queue_depth") == 2
    assert sample(node_a, "fixwright_queue_jobs", kind="fix", state="queued") == 1
    assert sample(node_a, "fixwright_queue_jobs", kind="fix", state="running") == 1
    assert sample(node_a, "fixwright_queue_jobs", kind="review", state="queued") == 1
    assert sample(node_a, "fixwright_queue_jobs", kind="help", state="queued") == 0
    assert sample(node_a, "fixwright_queue_oldest_age_seconds", kind="fix") == 90
    assert sample(node_a, "fixwright_queue_oldest_age_seconds", kind="help") == 0

    # Once the rest are leased too, the queued series fall to 0 rather than vanishing.
    for worker in ("node-a/0", "node-a/1"):
        assert await a.lease(worker, lease_seconds=600) is not None
    await refresh_cluster_gauges(b, node_b, NOW + 120)
    for kind in ("fix", "review"):
        assert sample(node_b, "fixwright_queue_jobs", kind=kind, state="queued") == 0
        assert sample(node_b, "fixwright_queue_oldest_age_seconds", kind=kind) == 0
    assert sample(node_b, "fixwright_queue_jobs", kind="fix", state="running") == 2
    assert sample(node_b, "fixwright_queue_depth") == 0


async def test_every_node_reports_each_live_worker_processs_running_jobs(
    nodes: tuple[Node, Node],
) -> None:
    """The registry's live processes show their running jobs and capacity on every node; a
    process marked lost drops out of the per-worker series and counts as lost."""
    a, b = nodes
    for name, running in (("host-a:1:aaaaaa", ("j1", "j2")), ("host-b:2:bbbbbb", ())):
        await a.beat_worker(
            WorkerRecord(
                id=name,
                host=name.split(":")[0],
                pid=int(name.split(":")[1]),
                engine="unix:///var/run/docker.sock",
                capacity=4,
                running=running,
                started_at=NOW,
                heartbeat_at=NOW,
            )
        )
    metrics = create_metrics()
    await refresh_cluster_gauges(b, metrics, NOW)
    worker = {"worker": "host-a:1:aaaaaa", "host": "host-a"}
    assert sample(metrics, "fixwright_worker_running_jobs", **worker) == 2
    assert sample(metrics, "fixwright_worker_capacity", **worker) == 4
    assert sample(metrics, "fixwright_worker_processes", state="alive") == 2

    await b.mark_lost_workers(before=NOW + 1)
    await refresh_cluster_gauges(a, metrics, NOW + 60)
    assert sample(metrics, "fixwright_worker_running_jobs", **worker) is None
    assert sample(metrics, "fixwright_worker_processes", state="lost") == 2
    assert sample(metrics, "fixwright_worker_processes", state="alive") == 0
