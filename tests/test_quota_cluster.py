"""Quotas counted once across nodes: two store instances on one database (two nodes) claim the
same installation's places and reserve the same day's tokens at once, many times over, and
together never take more than there is."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.config import Settings
from app.quota_gate import quota_decision
from app.store import Delivery, JobState, NewJob
from app.store.budget import DayLimits
from app.store.postgres import PostgresStore
from app.store.sqlite import SQLiteStore
from tests.pg import open_test_store
from tests.waiting import wait_until

INSTALLATION = 42
DAY = "2026-12-07"
HOLD_SECONDS = 3600.0
ROUNDS = 30
RUNS_PER_NODE = 4

# One node's store: the engine each test runs on.
Node = SQLiteStore | PostgresStore


def open_node(url: str, **options: Any) -> Node:
    store = open_test_store(url, **options)
    assert isinstance(store, SQLiteStore | PostgresStore)
    return store


@dataclass
class Nodes:
    """Two stores on one database, as two nodes of a cluster see it."""

    a: Node
    b: Node

    def each(self) -> tuple[Node, Node]:
        return self.a, self.b


@pytest.fixture
async def nodes(store_url: str) -> AsyncIterator[Nodes]:
    """Two stores on one database (a SQLite file, or a PostgreSQL database) as two nodes."""
    a = open_node(store_url)
    b = open_node(store_url)
    yield Nodes(a, b)
    await a.close()
    await b.close()


async def spent(store: Node) -> int:
    rows = [row for row in await store.usage_on(DAY) if row.installation_id == INSTALLATION]
    return rows[0].tokens if rows else 0


async def test_two_nodes_reserving_the_same_day_at_once_never_overspend(nodes: Nodes) -> None:
    """Round after round, runs on both nodes reserve the day's tokens at once and settle what
    they spent (up to all they were given): the day's spend never passes its limit, and while
    runs are in flight the reservations never add up to more than the day has left."""
    limit = DayLimits(tokens=100_000, cost_usd=0, usd_per_token=0)
    chance = random.Random(7)
    granted_total = 0
    for round_ in range(ROUNDS):
        before = await spent(nodes.a)
        holds = [f"r{round_}-{node}-{i}" for node in "ab" for i in range(RUNS_PER_NODE)]
        stores = [nodes.a if hold.split("-")[1] == "a" else nodes.b for hold in holds]
        asks = [chance.randrange(1_000, 12_000) for _ in holds]
        reservations = await asyncio.gather(
            *(
                store.reserve_day_budget(hold, INSTALLATION, "", DAY, limit, ask, HOLD_SECONDS)
                for store, hold, ask in zip(stores, holds, asks, strict=True)
            )
        )
        granted = [r.granted for r in reservations]
        assert all(0 <= g <= ask for g, ask in zip(granted, asks, strict=True))
        assert before + sum(granted) <= limit.tokens, (before, granted)
        granted_total += sum(granted)
        await asyncio.gather(
            *(
                store.settle_day_budget(hold, INSTALLATION, DAY, chance.randint(0, g), 0.0)
                for store, hold, g in zip(stores, holds, granted, strict=True)
            )
        )
        assert await spent(nodes.b) <= limit.tokens
    # The day did run out, so the limit was really contended for.
    assert granted_total >= limit.tokens
    assert await spent(nodes.a) <= limit.tokens


async def test_the_dollar_limit_is_reserved_at_the_dearest_tokens_price(nodes: Nodes) -> None:
    """With only a dollar limit, the runs of both nodes together get the tokens it buys."""
    limit = DayLimits(tokens=0, cost_usd=3.0, usd_per_token=0.0001)  # 30,000 tokens
    reservations = await asyncio.gather(
        *(
            store.reserve_day_budget(f"{i}", INSTALLATION, "", DAY, limit, 8_000, HOLD_SECONDS)
            for i in range(8)
            for store in [nodes.each()[i % 2]]
        )
    )
    assert sum(r.granted for r in reservations) == 30_000


async def leased_jobs(nodes: Nodes, count: int, batch: int = 0) -> list[tuple[Node, str, str]]:
    """`count` fix jobs of one installation on different issues, leased half by each node."""
    await nodes.a.record_delivery(
        Delivery(id=f"delivery-{batch}", event="issues", installation_id=INSTALLATION),
        [
            NewJob(
                kind="fix",
                repository="o/r",
                target=f"o/r#{batch}-{n}",
                installation_id=INSTALLATION,
                requested_by="someone",
                payload={},
                number=n,
            )
            for n in range(count)
        ],
    )
    leased = []
    for n in range(count):
        store = nodes.each()[n % 2]
        worker = f"node-{'ab'[n % 2]}/{batch}-{n}"
        job = await store.lease(worker, lease_seconds=3600)
        assert job is not None
        leased.append((store, job.id, worker))
    return leased


async def test_two_nodes_admitting_jobs_at_once_fill_the_places_exactly(nodes: Nodes) -> None:
    """Round after round, six jobs leased on two nodes claim two places at once: two start,
    four are told two run (none is refused because another that was refused counted against
    it); when the round's jobs end, their places go to the next round's."""
    for batch in range(ROUNDS // 3):
        jobs = await leased_jobs(nodes, 6, batch)
        claims = await asyncio.gather(
            *(
                store.claim_quota_slot(job_id, INSTALLATION, worker, 2, HOLD_SECONDS)
                for store, job_id, worker in jobs
            )
        )
        assert sorted(claims, key=str) == [2, 2, 2, 2, None, None], batch
        for store, job_id, worker in jobs:
            await store.finish(job_id, worker, JobState.SUCCEEDED, "done")


async def test_a_place_is_given_back_when_its_job_ends_or_its_worker_dies(nodes: Nodes) -> None:
    """A finished job's place, and a dead worker's (its lease ran out), go to the next job."""
    (
        (a, first, first_worker),
        (b, second, second_worker),
        (_, third, third_worker),
    ) = await leased_jobs(nodes, 3)
    assert await a.claim_quota_slot(first, INSTALLATION, first_worker, 1, HOLD_SECONDS) is None
    assert await b.claim_quota_slot(second, INSTALLATION, second_worker, 1, HOLD_SECONDS) == 1
    await a.finish(first, first_worker, JobState.SUCCEEDED, "done")
    assert await b.claim_quota_slot(second, INSTALLATION, second_worker, 1, HOLD_SECONDS) is None
    # The second job's worker dies: its lease runs out, and with it the job's place.
    assert await b.heartbeat(second, second_worker, lease_seconds=0.01)
    assert await wait_until(lambda: claimed(a, third, third_worker), within=10)


async def claimed(store: Node, job_id: str, worker: str) -> bool:
    return await store.claim_quota_slot(job_id, INSTALLATION, worker, 1, HOLD_SECONDS) is None


async def test_a_dead_workers_reservation_is_given_back(nodes: Nodes) -> None:
    """A run's tokens held for a job whose lease ran out go back to the day."""
    (a, job_id, worker), (b, other, other_worker) = await leased_jobs(nodes, 2)
    limit = DayLimits(tokens=10_000, cost_usd=0, usd_per_token=0)
    assert (
        await a.reserve_day_budget(job_id, INSTALLATION, worker, DAY, limit, None, HOLD_SECONDS)
    ).granted == 10_000
    empty = await b.reserve_day_budget(other, INSTALLATION, other_worker, DAY, limit, None, 60)
    assert empty.granted == 0 and empty.held_tokens == 10_000
    assert await a.heartbeat(job_id, worker, lease_seconds=0.01)

    async def given_back() -> bool:
        again = await b.reserve_day_budget(
            other, INSTALLATION, other_worker, DAY, limit, None, HOLD_SECONDS
        )
        return again.granted == 10_000

    assert await wait_until(given_back, within=10)


async def test_the_gates_of_two_nodes_let_exactly_the_limit_start(nodes: Nodes) -> None:
    """The worker's quota gate on two nodes, deciding at once for jobs both leased already:
    with one place, one job starts and the other is refused, round after round (counting the
    leased jobs instead, each would see the other running and both would be refused)."""
    settings = Settings(quota_concurrent_jobs=1, quota_jobs_per_user_per_hour=0)
    for batch in range(ROUNDS // 3):
        leased = await leased_jobs(nodes, 2, batch)
        jobs = [await store.get_job(job_id) for store, job_id, _ in leased]
        decisions = await asyncio.gather(
            *(
                quota_decision(store, settings, job, frozenset({"fix"}))
                for (store, _, _), job in zip(leased, jobs, strict=True)
                if job is not None
            )
        )
        assert sorted(d.allowed for d in decisions) == [False, True], batch
        [refused] = [d for d in decisions if not d.allowed]
        assert (refused.limit_name, refused.used) == ("concurrent_jobs", 1)
        for store, job_id, worker in leased:
            await store.finish(job_id, worker, JobState.SUCCEEDED, "done")
