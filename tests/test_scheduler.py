"""The scheduler on both engines, on a test clock: a slot fires once however many nodes claim it
(three on PostgreSQL, each with its own store connections), a slot missed while no node ran
fires once after a restart and older ones are skipped, a slot whose schedule still has a job
queued is skipped with the reason, and a paused schedule fires nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.scheduler import MISSED, PAUSED, Scheduler, schedule_branch, start_scheduler
from app.store import JobState
from app.store.schedules import QUEUED, SKIPPED, Schedule
from app.store.sql import SqlStore
from handlers import build_registry
from tests.pg import open_test_store
from tests.waiting import wait_until

REPO = "octo/hello"
T0 = 1_800_000_000.0  # a whole minute (and hour) since the epoch
MINUTE, HOUR = 60.0, 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def open_stores(store_url: str, clock: Clock) -> AsyncIterator[Callable[[], SqlStore]]:
    opened: list[SqlStore] = []

    def open_one() -> SqlStore:
        store = open_test_store(store_url, clock=clock)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return replace(Settings(), state_dir=str(tmp_path / "state"), **changes)


def schedule(name: str = "nightly", cron: str = "* * * * *", **fields: Any) -> Schedule:
    values: dict[str, Any] = {
        "id": f"id-{name}",
        "repository": REPO,
        "installation_id": 7,
        "name": name,
        "cron": cron,
        "timezone": "UTC",
        "prompt": "Update the lock file.",
        "output": "pull_request",
        "issue_number": None,
        "source": "api",
    }
    return Schedule(**{**values, **fields})


def schedulers(stores: list[SqlStore], settings: Settings, clock: Clock) -> Iterator[Scheduler]:
    registry = build_registry()
    for number, store in enumerate(stores):
        yield Scheduler(settings, store, registry, clock=clock, node=f"node-{number}")


async def finish_jobs(store: SqlStore) -> None:
    """Every queued job run to its end, as a worker would."""
    while (job := await store.lease("worker-1", 60)) is not None:
        assert await store.finish(job.id, "worker-1", JobState.SUCCEEDED, "done")


async def test_a_minutely_schedule_fires_once_per_slot_whatever_the_nodes(
    open_stores: Callable[[], SqlStore], store_url: str, clock: Clock, tmp_path: Path
) -> None:
    nodes = 3 if store_url.startswith("postgresql") else 1
    stores = [open_stores() for _ in range(nodes)]
    store = stores[0]
    assert await store.create_schedule(schedule())
    settings = settings_for(tmp_path)
    running = list(schedulers(stores, settings, clock))
    assert await asyncio.gather(*(node.tick() for node in running)) == [[]] * nodes  # none due
    for minute in range(1, 6):
        clock.now = T0 + minute * MINUTE + 2
        for _ in range(2):  # each node ticks twice in the slot's minute
            claims = await asyncio.gather(*(node.tick() for node in running))
            fired = [claim for node_claims in claims for claim in node_claims if claim.job_id]
            assert len(fired) <= 1
        await finish_jobs(store)
    slots = await store.schedule_slots("id-nightly")
    assert [slot.slot_at for slot in slots] == [T0 + m * MINUTE for m in range(1, 6)]
    assert {slot.outcome for slot in slots} == {QUEUED}
    jobs = [await store.get_job(slot.job_id or "") for slot in slots]
    assert len({job.id for job in jobs if job}) == 5
    for job in jobs:
        assert job is not None and job.state is JobState.SUCCEEDED
        assert job.requested_by == "schedule:nightly" and job.installation_id == 7
        assert job.kind == "scheduled_task"
        assert job.payload["task"]["prompt"] == "Update the lock file."
        branch = schedule_branch(settings.branch_prefix, "id-nightly", job.created_at - 2)
        assert job.payload["task"]["output"] == {"pull_request": True, "branch": branch}
        task = await store.task(job.id)
        assert task is not None and task.external_id == "schedule:id-nightly"


async def test_a_missed_slot_fires_once_after_a_restart_and_older_ones_are_skipped(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule("hourly", "0 * * * *"))
    settings = settings_for(tmp_path, schedule_catch_up_seconds=HOUR)
    [before] = schedulers([store], settings, clock)
    clock.now = T0 + HOUR + 1
    await before.tick()
    await finish_jobs(store)
    # Down from then until 4h30 after T0: the slots at +2h, +3h and +4h passed with no node.
    clock.now = T0 + 4 * HOUR + 30 * MINUTE
    [after] = schedulers([open_stores()], settings, clock)
    await after.tick()
    await after.tick()  # a second tick fires nothing more
    slots = await store.schedule_slots("id-hourly")
    assert [(s.slot_at - T0, s.outcome, s.reason) for s in slots] == [
        (HOUR, QUEUED, ""),
        (2 * HOUR, SKIPPED, MISSED),
        (3 * HOUR, SKIPPED, MISSED),
        (4 * HOUR, QUEUED, ""),  # 30 minutes late, within the catch-up: fired once
    ]


async def test_a_missed_slot_older_than_the_catch_up_is_skipped(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule("hourly", "0 * * * *"))
    settings = settings_for(tmp_path, schedule_catch_up_seconds=600)
    [node] = schedulers([store], settings, clock)
    clock.now = T0 + 3 * HOUR + 15 * MINUTE  # the latest slot is 15 minutes old
    claims = await node.tick()
    assert [claim.job_id for claim in claims] == [None] * 3
    slots = await store.schedule_slots("id-hourly")
    assert [(s.slot_at - T0, s.outcome) for s in slots] == [
        (HOUR, SKIPPED),
        (2 * HOUR, SKIPPED),
        (3 * HOUR, SKIPPED),
    ]
    assert slots[-1].reason == f"{MISSED}, and older than the catch-up of 600 s"
    assert await store.lease("worker-1", 60) is None


async def test_a_slot_is_skipped_while_the_schedules_job_is_still_queued(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule())
    [node] = schedulers([store], settings_for(tmp_path), clock)
    clock.now = T0 + MINUTE + 1
    [first] = await node.tick()
    assert first.job_id is not None
    clock.now = T0 + 2 * MINUTE + 1
    [second] = await node.tick()
    assert second.job_id is None
    assert second.reason == f"the schedule's job {first.job_id} of an earlier slot is still queued"
    await finish_jobs(store)
    clock.now = T0 + 3 * MINUTE + 1
    [third] = await node.tick()
    assert third.job_id is not None
    slots = await store.schedule_slots("id-nightly")
    assert [slot.outcome for slot in slots] == [QUEUED, SKIPPED, QUEUED]
    assert slots[1].reason == second.reason


async def test_a_paused_schedule_fires_nothing_and_resumes_at_its_next_slot(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule())
    assert await store.pause_schedule("id-nightly", True)
    [node] = schedulers([store], settings_for(tmp_path), clock)
    clock.now = T0 + 3 * MINUTE + 1
    claims = await node.tick()
    assert [claim.reason for claim in claims] == [PAUSED] * 3
    assert await store.lease("worker-1", 60) is None
    assert await store.pause_schedule("id-nightly", False)
    assert await node.tick() == []  # the paused slots are not fired late
    clock.now = T0 + 4 * MINUTE + 1
    [fired] = await node.tick()
    assert fired.job_id is not None


async def test_an_invalid_stored_schedule_never_fires(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule("broken", "61 * * * *"))
    assert await store.create_schedule(schedule("nowhere", timezone="Mars/Olympus"))
    assert await store.create_schedule(schedule())
    [node] = schedulers([store], settings_for(tmp_path), clock)
    clock.now = T0 + MINUTE + 1
    claims = await node.tick()  # the valid one still fires
    assert len(claims) == 1 and claims[0].job_id is not None
    assert await store.schedule_slots("id-broken") == []
    assert await store.schedule_slots("id-nowhere") == []


async def test_the_loop_fires_on_its_own(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule())
    woken = asyncio.Event()
    [node] = schedulers([store], settings_for(tmp_path), clock)
    node.interval = 0.01
    node.wake = woken.set
    clock.now = T0 + MINUTE + 1
    loop = asyncio.create_task(node.run())
    try:
        await asyncio.wait_for(woken.wait(), timeout=30)
    finally:
        loop.cancel()
    [slot] = await store.schedule_slots("id-nightly")
    assert slot.outcome == QUEUED


async def test_retention_keeps_each_schedules_latest_slot(
    open_stores: Callable[[], SqlStore], clock: Clock, tmp_path: Path
) -> None:
    store = open_stores()
    assert await store.create_schedule(schedule())
    [node] = schedulers([store], settings_for(tmp_path), clock)
    for minute in (1, 2, 3):
        clock.now = T0 + minute * MINUTE + 1
        await node.tick()
        await finish_jobs(store)
    await store.prune(before=T0 + 10 * MINUTE)
    [kept] = await store.schedule_slots("id-nightly")
    assert kept.slot_at == T0 + 3 * MINUTE
    clock.now = T0 + 4 * MINUTE + 1
    [fired] = await node.tick()  # the walk starts from the kept slot: nothing old fires again
    assert fired.job_id is not None
    assert len(await store.schedule_slots("id-nightly")) == 2


async def test_the_nodes_loops_fire_each_slot_once(
    open_stores: Callable[[], SqlStore], store_url: str, clock: Clock, tmp_path: Path
) -> None:
    """The loops themselves, as `serve` runs them (three nodes on PostgreSQL), on the test
    clock: each minute's slot is claimed by one of them and queues one job."""
    nodes = 3 if store_url.startswith("postgresql") else 1
    stores = [open_stores() for _ in range(nodes)]
    store = stores[0]
    assert await store.create_schedule(schedule())
    running = list(schedulers(stores, settings_for(tmp_path), clock))
    loops = []
    for node in running:
        node.interval = 0.005
        loops.append(asyncio.create_task(node.run()))
    try:
        for minute in range(1, 5):
            clock.now = T0 + minute * MINUTE + 1

            async def claimed(count: int = minute) -> bool:
                return len(await store.schedule_slots("id-nightly")) == count

            await wait_until(claimed, within=30)
            # Every node has ticked again past this slot before the next one comes.
            await asyncio.gather(*(node.tick() for node in running))
            await finish_jobs(store)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    slots = await store.schedule_slots("id-nightly")
    assert [slot.outcome for slot in slots] == [QUEUED] * 4
    jobs = await store.list_jobs()
    assert sorted(job.id for job in jobs) == sorted(slot.job_id or "" for slot in slots)


async def test_the_scheduler_runs_only_where_workers_run(
    open_stores: Callable[[], SqlStore], tmp_path: Path
) -> None:
    store = open_stores()
    registry = build_registry()
    web_only = settings_for(tmp_path, workers=0)
    assert start_scheduler(web_only, store, registry, lambda: None) is None
    running = start_scheduler(settings_for(tmp_path, workers=1), store, registry, lambda: None)
    assert running is not None
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
