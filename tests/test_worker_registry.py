"""The worker registry in process, on the real store: a worker process heartbeats where it runs
and what it runs, leaves when stopped, and one that missed its heartbeats is marked lost and its
job put back at once (the attempt it spent counted) rather than when its lease would run out."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from app.context import Context
from app.events import WebhookEvent
from app.routing import Registry
from app.store import Delivery, JobState, NewJob
from app.workers_registry import Registration
from handlers import build_registry
from tests.fakes.github.fixtures import REPOSITORY
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.pg import open_test_store
from tests.test_worker import command, throwaway_kind
from tests.waiting import wait_until


async def only_worker_running(engine: Engine, running: tuple[str, ...]) -> bool:
    [worker] = await engine.store.workers()
    return worker.running == running


async def test_a_worker_process_heartbeats_what_it_runs_and_leaves_when_stopped(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine-a.internal:2376")
    gate = asyncio.Event()

    async def held(event: WebhookEvent, context: Context) -> str:
        await gate.wait()
        return "let through"

    kinds = Registry([*build_registry().kinds.values(), throwaway_kind("hold", held)])
    engine = await make_engine(
        registry=kinds, workers=2, job_lease_seconds=3, poll_interval_seconds=0.05
    )
    await engine.pool.start()
    try:
        [worker] = await engine.store.workers()
        assert (worker.host, worker.pid, worker.engine, worker.capacity, worker.running) == (
            socket.gethostname(),
            os.getpid(),
            "tcp://engine-a.internal:2376",
            2,
            (),
        )
        first_beat = worker.heartbeat_at
        answer = await engine.deliver("issue_comment", command("/hold"))
        [job_id] = answer.body["jobs"]
        await wait_until(lambda: only_worker_running(engine, (job_id,)))
        job = await engine.store.get_job(job_id)
        assert job is not None and job.lease_owner is not None
        assert job.lease_owner.startswith(worker.id + "/")  # how a lost process's jobs are found
        gate.set()
        await wait_until(lambda: only_worker_running(engine, ()))
        [worker] = await engine.store.workers()
        assert worker.heartbeat_at > first_beat and worker.lost_at is None
        finished(await engine.store.get_job(job_id), JobState.SUCCEEDED)
    finally:
        await engine.pool.stop()
    assert await engine.store.workers() == []


async def test_a_process_that_missed_its_heartbeats_is_lost_and_its_job_taken_back_at_once(
    engine: Engine,
) -> None:
    """The lease has ten minutes left; the job is queued again now, and then runs once."""
    answer = await engine.deliver("issue_comment", command("/help"))
    [job_id] = answer.body["jobs"]
    now = time.time()
    ghost = Registration(capacity=1, engine="unix:///ghost.sock", id="ghost:1:abcdef")
    await engine.store.beat_worker(ghost.record((job_id,), now - 60))  # 60 s without a beat
    leased = await engine.store.lease(ghost.worker_id(0), 600)
    assert leased is not None and leased.id == job_id
    fresh = Registration(capacity=1, id="fresh:2:abcdef")
    await engine.store.beat_worker(fresh.record((), now))
    engine.pool.registration = Registration(capacity=1)

    assert await engine.pool.take_back_from_lost() == [ghost.id]

    job = await engine.store.get_job(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.lease_owner) == (JobState.QUEUED, 1, None)
    lost = {w.id: w.lost_at for w in await engine.store.workers()}
    assert lost[fresh.id] is None and lost[ghost.id] is not None
    assert await engine.pool.take_back_from_lost() == []  # marked once

    [ran] = await engine.run_all()
    assert finished(ran, JobState.SUCCEEDED).attempts == 2
    replies = [c for c in engine.github.state.issue_comments(REPOSITORY, 1) if "help" in c.body]
    assert len(replies) == 1


async def test_a_lost_process_that_beats_again_is_alive_but_its_job_stays_taken_back(
    engine: Engine,
) -> None:
    """A process that was only stalled comes back to the registry; its old lease is gone, so its
    next job heartbeat fails and it stops that job (the worker's own rule)."""
    answer = await engine.deliver("issue_comment", command("/help"))
    [job_id] = answer.body["jobs"]
    stalled = Registration(capacity=1, id="stalled:3:abcdef")
    await engine.store.beat_worker(stalled.record((job_id,), time.time() - 60))
    await engine.store.lease(stalled.worker_id(0), 600)
    engine.pool.registration = Registration(capacity=1)
    await engine.pool.take_back_from_lost()

    await engine.store.beat_worker(stalled.record((job_id,), time.time()))
    [worker] = [w for w in await engine.store.workers() if w.id == stalled.id]
    assert worker.lost_at is None
    assert not await engine.store.heartbeat(job_id, stalled.worker_id(0), 600)


async def test_marking_lost_ends_that_process_leases_only_on_either_engine(store_url: str) -> None:
    """A process whose id extends the lost one's (`...a` and `...ab`) keeps its lease: lease
    owners are matched up to the `/` after the process id."""
    store = open_test_store(store_url)
    try:
        jobs = [
            NewJob(
                kind="help",
                repository=REPOSITORY,
                target=f"{REPOSITORY}#{n}",
                installation_id=1,
                requested_by="octocat",
                payload={},
                number=n,
            )
            for n in (1, 2)
        ]
        first, second = (
            await store.record_delivery(
                Delivery("delivery-1", "issue_comment", outcome="queued"), jobs
            )
            or []
        )
        now = time.time()
        lost = Registration(capacity=1, id="host:1:a")
        kept = Registration(capacity=1, id="host:1:ab")
        await store.beat_worker(lost.record((first,), now - 60))
        await store.beat_worker(kept.record((second,), now))
        leased = [
            await store.lease(lost.worker_id(0), 600),
            await store.lease(kept.worker_id(0), 600),
        ]
        assert [job.id if job else None for job in leased] == [first, second]

        assert await store.mark_lost_workers(now - 15) == [lost.id]
        assert await store.reclaim_expired() == [first]
        states = {job_id: await store.get_job(job_id) for job_id in (first, second)}
        assert states[first] is not None and states[first].state is JobState.QUEUED
        assert states[second] is not None and states[second].state is JobState.RUNNING
        assert await store.remove_worker(kept.id)
        assert [w.id for w in await store.workers()] == [lost.id]
    finally:
        await store.close()
