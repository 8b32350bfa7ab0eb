"""The SQLite job store: de-duplication, leases, per-target order, crash recovery, the event log,
shared commits, other processes' locks, and checkpoints."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import Delivery, JobState, NewJob, open_store
from app.store.sqlite import SQLiteStore


class Clock:
    """A clock the test moves forward, so lease expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 0.001  # strictly increasing, as creation order relies on it
        return self.now


def new_job(target: str = "octo/hello#1", kind: str = "fix") -> NewJob:
    repository = target.split("#")[0]
    return NewJob(
        kind=kind,
        repository=repository,
        target=target,
        number=int(target.split("#")[1]),
        installation_id=7,
        requested_by="octocat",
        payload={"event": "issues", "payload": {"action": "labeled"}},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "db" / "fixwright.db", max_attempts=2, clock=clock)
    yield opened
    await opened.close()


async def test_a_delivery_id_is_recorded_once(store: SQLiteStore) -> None:
    """The same delivery id a second time creates no second job."""
    first = await store.record_delivery(Delivery("d-1", "issues", "labeled"), [new_job()])
    again = await store.record_delivery(Delivery("d-1", "issues", "labeled"), [new_job()])
    assert first is not None and len(first) == 1
    assert again is None
    assert len(await store.list_jobs()) == 1


async def test_deliveries_and_jobs_survive_reopening(tmp_path: Path) -> None:
    """What was recorded is on disk: a new process sees the job and the delivery id."""
    url = f"sqlite:///{tmp_path / 'fixwright.db'}"
    first = open_store(url)
    [job_id] = await first.record_delivery(Delivery("d-9", "issues"), [new_job()]) or []
    await first.close()
    second = open_store(url)
    job = await second.get_job(job_id)
    assert job is not None and job.state is JobState.QUEUED
    assert await second.has_delivery("d-9")
    assert await second.record_delivery(Delivery("d-9", "issues"), [new_job()]) is None
    await second.close()


async def test_jobs_for_one_target_run_one_at_a_time(store: SQLiteStore) -> None:
    """A second job for the same issue waits; a job for another issue does not."""
    await store.record_delivery(Delivery("d-1", "issues"), [new_job("o/r#1", "fix")])
    await store.record_delivery(Delivery("d-2", "issue_comment"), [new_job("o/r#1", "help")])
    await store.record_delivery(Delivery("d-3", "issues"), [new_job("o/r#2", "fix")])
    first = await store.lease("w1", 60)
    second = await store.lease("w2", 60)
    assert first is not None and first.target == "o/r#1" and first.kind == "fix"
    assert second is not None and second.target == "o/r#2"
    assert await store.lease("w3", 60) is None
    await store.finish(first.id, "w1", JobState.SUCCEEDED, "done")
    third = await store.lease("w3", 60)
    assert third is not None and third.target == "o/r#1" and third.kind == "help"


async def test_a_newer_trigger_supersedes_a_queued_job(store: SQLiteStore) -> None:
    """Labelling twice before a worker starts leaves one job to run."""
    [old] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    [new] = await store.record_delivery(Delivery("d-2", "issues"), [new_job()]) or []
    old_job = await store.get_job(old)
    assert old_job is not None and old_job.state is JobState.CANCELLED
    assert "superseded" in old_job.summary
    leased = await store.lease("w1", 60)
    assert leased is not None and leased.id == new


async def test_an_expired_lease_is_taken_back_then_failed_after_max_attempts(
    store: SQLiteStore, clock: Clock
) -> None:
    """A crashed worker's job runs again once; after a second crash it fails, saying why."""
    [job_id] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    await store.lease("dead-1", 30)
    assert await store.reclaim_expired() == []
    clock.now += 31
    assert await store.reclaim_expired() == [job_id]
    again = await store.lease("w2", 30)
    assert again is not None and again.id == job_id and again.attempts == 2
    clock.now += 31
    await store.reclaim_expired()
    failed = await store.get_job(job_id)
    assert failed is not None and failed.state is JobState.FAILED
    assert "stopped 2 times" in failed.summary


async def test_heartbeat_keeps_a_lease_and_fails_once_cancelled(
    store: SQLiteStore, clock: Clock
) -> None:
    """A heartbeating job is not reclaimed; a cancelled one tells its worker to stop."""
    [job_id] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    await store.lease("w1", 30)
    clock.now += 20
    assert await store.heartbeat(job_id, "w1", 30)
    clock.now += 20
    assert await store.reclaim_expired() == []
    assert not await store.heartbeat(job_id, "someone-else", 30)
    assert await store.cancel(job_id, "cancelled by @octocat")
    assert not await store.heartbeat(job_id, "w1", 30)
    assert not await store.finish(job_id, "w1", JobState.SUCCEEDED, "late")
    job = await store.get_job(job_id)
    assert job is not None and job.state is JobState.CANCELLED


async def test_event_log_is_append_only_and_read_from_a_position(store: SQLiteStore) -> None:
    """Events come back in order, and a reader can resume after the last one it saw."""
    [job_id] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    for index in range(3):
        assert await store.append_event(job_id, "progress", {"step": index}) == index + 1
    events = await store.events(job_id, after=1)
    assert [event.data["step"] for event in events] == [1, 2]
    assert [event.seq for event in events] == [2, 3]


async def test_deliveries_made_together_commit_together_and_a_failing_one_alone_is_lost(
    store: SQLiteStore,
) -> None:
    """A burst shares commits; the one call that fails is rolled back alone, in order."""
    unstorable = NewJob(**{**new_job("o/r#99").__dict__, "payload": {"bad": {1, 2}}})
    calls = [
        store.record_delivery(Delivery(f"d-{n}", "issues"), [new_job(f"o/r#{n}")])
        for n in range(40)
    ]
    calls.insert(20, store.record_delivery(Delivery("d-bad", "issues"), [unstorable]))
    calls.append(store.record_delivery(Delivery("d-5", "issues"), [new_job("o/r#5")]))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[20], TypeError)
    assert results[-1] is None  # d-5 was recorded earlier in the same burst
    assert all(isinstance(result, list) and len(result) == 1 for result in results[:20])
    assert not await store.has_delivery("d-bad")
    assert len(await store.list_jobs(limit=100)) == 40


def hold_write_lock(path: Path, held: threading.Event, seconds: float) -> None:
    """What another process (an operator's command, a backup) does: hold SQLite's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


async def test_a_lock_held_elsewhere_is_waited_for_with_the_event_loop_free(
    tmp_path: Path,
) -> None:
    """The delivery lands once the lock is released; the loop kept turning meanwhile."""
    path = tmp_path / "fixwright.db"
    store = SQLiteStore(path)
    held = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, held, 0.5))
    holder.start()
    await asyncio.to_thread(held.wait)
    started = time.monotonic()
    recording = asyncio.ensure_future(store.record_delivery(Delivery("d-1", "issues"), [new_job()]))
    ticks = 0
    while not recording.done():
        await asyncio.sleep(0.01)
        ticks += 1
    waited = time.monotonic() - started
    await asyncio.to_thread(holder.join)
    assert recording.result() is not None and len(recording.result()) == 1
    assert waited >= 0.4
    assert ticks >= 20  # a blocked loop would have turned once
    assert await store.has_delivery("d-1")
    await store.close()


async def test_committed_deliveries_reach_the_database_file_without_a_restart(
    tmp_path: Path,
) -> None:
    """The checkpointer moves the log into the database file while the store stays open."""
    path = tmp_path / "fixwright.db"
    store = SQLiteStore(path)
    await store.record_delivery(Delivery("d-1", "issues"), [new_job()])
    copy = tmp_path / "file-alone.db"  # the database file without its -wal log
    for _ in range(50):
        await asyncio.sleep(0.1)
        shutil.copyfile(path, copy)
        with sqlite3.connect(copy) as alone:
            tables = {row[0] for row in alone.execute("SELECT name FROM sqlite_master")}
            if "deliveries" in tables and alone.execute("SELECT id FROM deliveries").fetchall():
                break
    else:
        raise AssertionError("the delivery never reached the database file")
    await store.close()


async def test_the_log_stays_bounded_under_writes_that_never_pause(tmp_path: Path) -> None:
    """A log past its limit is emptied even while commits keep coming, so the disk does not fill."""
    limit = 256 * 1024
    wal = tmp_path / "fixwright.db-wal"
    store = SQLiteStore(tmp_path / "fixwright.db", wal_limit_bytes=limit)
    sizes = [0]
    written = 0
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:  # a commit every loop turn, never a quiet second
        batch = [Delivery(f"d-{written + n}", "issues", repository="o" * 200) for n in range(16)]
        await asyncio.gather(*(store.record_delivery(delivery, []) for delivery in batch))
        written += len(batch)
        sizes.append(wal.stat().st_size)
    grown = sum(max(0, later - earlier) for earlier, later in itertools.pairwise(sizes))
    emptied = sum(1 for earlier, later in itertools.pairwise(sizes) if later < earlier)
    assert emptied >= 2  # about once a checkpoint interval
    assert max(sizes) < grown / 2  # without it, the file holds all that was ever logged
    assert await store.has_delivery(f"d-{written - 1}")
    await store.close()


async def test_the_sync_level_asked_for_is_the_one_sqlite_applies(tmp_path: Path) -> None:
    """FIXWRIGHT_STORE_SYNC=full reaches SQLite (read back from the connection), and still stores."""
    default = open_store(f"sqlite:///{tmp_path / 'normal.db'}")
    full = open_store(f"sqlite:///{tmp_path / 'full.db'}", sync="full")
    assert getattr(default, "synchronous", None) == "normal"
    assert getattr(full, "synchronous", None) == "full"
    assert await full.record_delivery(Delivery("d-1", "issues"), [new_job()]) is not None
    assert await full.has_delivery("d-1")
    await default.close()
    await full.close()


async def test_a_reader_elsewhere_holds_back_a_full_checkpoint_only_briefly(tmp_path: Path) -> None:
    """Another process reading for long (a backup) keeps the log from being emptied; the full
    checkpoint that keeps trying must not hold the intake's writes back for long each time."""
    path = tmp_path / "fixwright.db"
    store = SQLiteStore(path, wal_limit_bytes=64 * 1024)
    await store.record_delivery(Delivery("seed", "issues"), [])
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM deliveries").fetchone()
    longest = 0.0
    written = 0
    deadline = time.monotonic() + 3.5  # three checkpoint intervals, each past the limit
    while time.monotonic() < deadline:
        batch = [Delivery(f"d-{written + n}", "issues", repository="o" * 200) for n in range(16)]
        started = time.monotonic()
        await asyncio.gather(*(store.record_delivery(delivery, []) for delivery in batch))
        longest = max(longest, time.monotonic() - started)
        written += len(batch)
    reader.execute("COMMIT")
    reader.close()
    assert longest < 0.5  # the checkpoint gives up after 50 ms; waiting 1 s held writes 1 s
    assert await store.has_delivery(f"d-{written - 1}")
    await store.close()
