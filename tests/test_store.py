"""The job store on both engines (de-duplication, leases, per-target order, crash recovery, the
event log, retention), and SQLite's own: shared commits, other processes' locks, checkpoints."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import Delivery, JobState, NewJob, open_store
from app.store.model import Pruned
from app.store.sql import SqlStore
from app.store.sqlite import SQLiteStore
from tests.pg import open_test_store
from tests.waiting import wait_until


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
async def store(store_url: str, clock: Clock) -> AsyncIterator[SqlStore]:
    opened = open_test_store(store_url, max_attempts=2, clock=clock)
    yield opened
    await opened.close()


async def test_a_delivery_id_is_recorded_once(store: SqlStore) -> None:
    """The same delivery id a second time creates no second job."""
    first = await store.record_delivery(Delivery("d-1", "issues", "labeled"), [new_job()])
    again = await store.record_delivery(Delivery("d-1", "issues", "labeled"), [new_job()])
    assert first is not None and len(first) == 1
    assert again is None
    assert len(await store.list_jobs()) == 1


async def test_deliveries_and_jobs_survive_reopening(store_url: str) -> None:
    """What was recorded is on disk: a new process sees the job and the delivery id."""
    url = store_url
    first = open_store(url)
    [job_id] = await first.record_delivery(Delivery("d-9", "issues"), [new_job()]) or []
    await first.close()
    second = open_store(url)
    job = await second.get_job(job_id)
    assert job is not None and job.state is JobState.QUEUED
    assert await second.has_delivery("d-9")
    assert await second.record_delivery(Delivery("d-9", "issues"), [new_job()]) is None
    await second.close()


async def test_jobs_for_one_target_run_one_at_a_time(store: SqlStore) -> None:
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


async def test_a_newer_trigger_runs_first_and_supersedes_the_queued_one_once_allowed(
    store: SqlStore,
) -> None:
    """Labelling twice: intake cancels nothing; the newer job runs first, then cancels the older."""
    [old] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    [new] = await store.record_delivery(Delivery("d-2", "issues"), [new_job()]) or []
    old_job = await store.get_job(old)
    assert old_job is not None and old_job.state is JobState.QUEUED
    leased = await store.lease("w1", 60)
    assert leased is not None and leased.id == new
    assert await store.lease("w2", 60) is None  # the older one waits for the newer's check
    assert await store.supersede_older(new, "superseded by a newer trigger from @octocat") == [old]
    old_job = await store.get_job(old)
    assert old_job is not None and old_job.state is JobState.CANCELLED
    assert old_job.summary == "superseded by a newer trigger from @octocat"
    await store.finish(new, "w1", JobState.SUCCEEDED, "done")
    assert await store.lease("w2", 60) is None


async def test_a_refused_newer_trigger_leaves_the_older_job_to_run_next(
    store: SqlStore,
) -> None:
    """A stranger's trigger after a maintainer's: once it is refused, the maintainer's job runs."""
    [kept] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    [refused] = await store.record_delivery(Delivery("d-2", "issue_comment"), [new_job()]) or []
    leased = await store.lease("w1", 60)
    assert leased is not None and leased.id == refused
    await store.finish(refused, "w1", JobState.CANCELLED, "refused: @stranger has read access")
    next_job = await store.lease("w1", 60)
    assert next_job is not None and next_job.id == kept


async def test_a_waiting_older_trigger_holds_back_no_other_kind(store: SqlStore) -> None:
    """fix, help, fix on one issue: the help runs first, then the newer fix; the older fix waits."""
    [old_fix] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    [help_job] = await store.record_delivery(Delivery("d-2", "c"), [new_job(kind="help")]) or []
    [new_fix] = await store.record_delivery(Delivery("d-3", "c"), [new_job()]) or []
    order = []
    while (job := await store.lease("w1", 60)) is not None:
        order.append(job.id)
        if job.id == new_fix:
            await store.supersede_older(job.id, "superseded")
        await store.finish(job.id, "w1", JobState.SUCCEEDED, "done")
    assert order == [help_job, new_fix]
    old_job = await store.get_job(old_fix)
    assert old_job is not None and old_job.state is JobState.CANCELLED


async def test_superseding_cancels_only_older_queued_jobs_of_the_same_target_and_kind(
    store: SqlStore,
) -> None:
    """Another issue's job, another kind and a newer trigger are left alone."""
    jobs = [new_job(), new_job("octo/hello#2"), new_job(kind="help"), new_job(), new_job()]
    ids = [
        (await store.record_delivery(Delivery(f"d-{i}", "issues"), [job]) or [""])[0]
        for i, job in enumerate(jobs)
    ]
    assert await store.supersede_older(ids[3], "superseded") == [ids[0]]
    states = [job.state for job in [await store.get_job(i) for i in ids] if job]
    assert states == [JobState.CANCELLED] + [JobState.QUEUED] * 4


async def test_a_notice_is_claimed_once_an_hour_per_person_issue_and_kind(
    store: SqlStore, clock: Clock
) -> None:
    """The same person on the same issue gets one notice of a kind an hour; anyone else their own."""
    hour = 3600.0
    assert await store.claim_notice("octo/hello", 1, "stranger", "refusal", hour)
    assert not await store.claim_notice("octo/hello", 1, "stranger", "refusal", hour)
    assert not await store.claim_notice("Octo/Hello", 1, "STRANGER", "refusal", hour)
    assert await store.claim_notice("octo/hello", 1, "mallory", "refusal", hour)
    assert await store.claim_notice("octo/hello", 2, "stranger", "refusal", hour)
    assert await store.claim_notice("octo/hello", 1, "stranger", "help", hour)
    clock.now += hour
    assert await store.claim_notice("octo/hello", 1, "stranger", "refusal", hour)
    assert not await store.claim_notice("octo/hello", 1, "stranger", "refusal", hour)


async def test_an_expired_lease_is_taken_back_then_failed_after_max_attempts(
    store: SqlStore, clock: Clock
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
    store: SqlStore, clock: Clock
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


async def test_event_log_is_append_only_and_read_from_a_position(store: SqlStore) -> None:
    """Events come back in order, and a reader can resume after the last one it saw."""
    [job_id] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    for index in range(3):
        assert await store.append_event(job_id, "progress", {"step": index}) == index + 1
    events = await store.events(job_id, after=1)
    assert [event.data["step"] for event in events] == [1, 2]
    assert [event.seq for event in events] == [2, 3]


async def test_deliveries_made_together_commit_together_and_a_failing_one_alone_is_lost(
    store: SqlStore,
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


def hold_write_lock(path: Path, held: threading.Event, release: threading.Event) -> None:
    """What another process (an operator's command, a backup) does: hold SQLite's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    held.set()
    release.wait(timeout=30)  # bounded, so a loop blocked on the lock still ends (and fails)
    other.execute("COMMIT")
    other.close()


async def test_a_lock_held_elsewhere_is_waited_for_with_the_event_loop_free(
    tmp_path: Path,
) -> None:
    """The delivery lands once the lock is released; the loop kept turning meanwhile."""
    path = tmp_path / "fixwright.db"
    store = SQLiteStore(path)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, held, release))
    holder.start()
    await asyncio.to_thread(held.wait)
    recording = asyncio.ensure_future(store.record_delivery(Delivery("d-1", "issues"), [new_job()]))
    for _ in range(20):  # a loop blocked on the lock would not turn until the holder gave up
        await asyncio.sleep(0.01)
    assert not recording.done()  # still waiting for the lock, which is still held
    release.set()
    result = await recording
    await asyncio.to_thread(holder.join)
    assert result is not None and len(result) == 1
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

    def in_the_file_alone() -> bool:
        shutil.copyfile(path, copy)
        try:
            with sqlite3.connect(copy) as alone:
                tables = {row[0] for row in alone.execute("SELECT name FROM sqlite_master")}
                return "deliveries" in tables and bool(
                    alone.execute("SELECT id FROM deliveries").fetchall()
                )
        except sqlite3.DatabaseError:  # copied in the middle of a checkpoint's writes
            return False

    await wait_until(in_the_file_alone, within=10)
    await store.close()


async def test_the_log_stays_bounded_under_writes_that_never_pause(tmp_path: Path) -> None:
    """A log past its limit is emptied even while commits keep coming, so the disk does not fill."""
    limit = 256 * 1024
    wal = tmp_path / "fixwright.db-wal"
    store = SQLiteStore(tmp_path / "fixwright.db", wal_limit_bytes=limit)
    sizes = [0]
    written = 0

    def times_emptied() -> int:
        return sum(1 for earlier, later in itertools.pairwise(sizes) if later < earlier)

    async def write_a_batch_until_emptied_thrice() -> bool:
        """A commit every loop turn, never a quiet second, until the log was emptied three times."""
        nonlocal written
        batch = [Delivery(f"d-{written + n}", "issues", repository="o" * 200) for n in range(16)]
        await asyncio.gather(*(store.record_delivery(delivery, []) for delivery in batch))
        written += len(batch)
        sizes.append(wal.stat().st_size)
        return times_emptied() >= 3  # about once a checkpoint interval

    await wait_until(write_a_batch_until_emptied_thrice, within=30, interval=0)
    grown = sum(max(0, later - earlier) for earlier, later in itertools.pairwise(sizes))
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


async def test_a_reader_elsewhere_makes_the_full_checkpoint_give_up_not_hold_writes(
    tmp_path: Path,
) -> None:
    """Another process reading for long (a backup) keeps the log from being emptied: the full
    checkpoint gives up and lets writes through each time, and empties the log once it is gone."""
    path = tmp_path / "fixwright.db"
    wal = tmp_path / "fixwright.db-wal"
    limit = 64 * 1024
    store = SQLiteStore(path, wal_limit_bytes=limit)
    committed = store._lane.committed  # set by each commit, cleared as a checkpoint begins
    await store.record_delivery(Delivery("seed", "issues"), [])
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM deliveries").fetchone()
    written = 0

    async def write_a_batch() -> None:
        nonlocal written
        batch = [Delivery(f"d-{written + n}", "issues", repository="o" * 200) for n in range(16)]
        await asyncio.gather(*(store.record_delivery(delivery, []) for delivery in batch))
        written += len(batch)

    async def past_the_limit() -> bool:
        await write_a_batch()
        return wal.stat().st_size > limit

    await wait_until(past_the_limit, within=30, interval=0)
    # A checkpoint beginning clears `committed`; the third beginning means two full ones were
    # tried with the reader in place and gave up, and the writes between them landed.
    for _ in range(3):
        await wait_until(lambda: not committed.is_set(), within=30)
        await write_a_batch()
    assert await store.has_delivery(f"d-{written - 1}")
    assert wal.stat().st_size > limit  # the reader kept it from being emptied

    reader.execute("COMMIT")
    reader.close()
    await write_a_batch()
    await wait_until(lambda: wal.stat().st_size < limit, within=30)
    await store.close()


async def test_a_body_seen_before_under_another_delivery_id_is_recorded_once(
    store: SqlStore,
) -> None:
    """A replay (the same body's hash, a new delivery id) records nothing; deliveries without a
    body hash never conflict with each other."""
    body = bytes(range(32))
    assert await store.record_delivery(Delivery("d-1", "issues", body_sha256=body), [new_job()])
    replay = Delivery("d-2", "issues", body_sha256=body)
    assert await store.record_delivery(replay, [new_job()]) is None
    assert not await store.has_delivery("d-2")
    assert await store.record_delivery(Delivery("d-3", "star"), []) == []
    assert await store.record_delivery(Delivery("d-4", "star"), []) == []
    assert len(await store.list_jobs()) == 1


# The deliveries and jobs tables as the first version of the store made them.
FIRST_SCHEMA = """
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT NOT NULL DEFAULT '',
    installation_id INTEGER, repository TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, repository TEXT NOT NULL, target TEXT NOT NULL,
    number INTEGER, installation_id INTEGER, requested_by TEXT NOT NULL DEFAULT '',
    delivery_id TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, lease_owner TEXT,
    lease_expires_at REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    updated_at REAL NOT NULL, summary TEXT NOT NULL DEFAULT '', usage TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO deliveries VALUES ('old-1', 'issues', 'labeled', 7, 'octo/hello', 'queued', 1.0);
"""


async def test_a_database_made_by_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file from before replays were recognised gains the body column and its index, keeps
    its rows, and is opened again without change."""
    path = tmp_path / "fixwright.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_SCHEMA)
    for _ in range(2):
        store = SQLiteStore(path)
        assert await store.has_delivery("old-1")
        body = b"\x01" * 32
        await store.record_delivery(Delivery(f"new-{_}", "issues", body_sha256=body), [new_job()])
        assert (
            await store.record_delivery(Delivery("again", "issues", body_sha256=body), []) is None
        )
        await store.close()
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(deliveries)")]
        indexes = {row[1] for row in db.execute("PRAGMA index_list(deliveries)")}
    assert columns.count("body_sha256") == 1 and "deliveries_by_body" in indexes


async def finished_job(store: SqlStore, delivery_id: str, target: str) -> str:
    """A job queued, run and finished now (by the store's clock), with two log entries."""
    await store.record_delivery(Delivery(delivery_id, "issues"), [new_job(target)])
    job = await store.lease("w", 60)
    assert job is not None and job.target == target
    await store.append_event(job.id, "claude", {"type": "assistant"})
    await store.append_event(job.id, "claude", {"type": "result"})
    await store.finish(job.id, "w", JobState.SUCCEEDED, "opened a pull request", {"tokens": 9})
    return job.id


async def test_pruning_removes_old_deliveries_payloads_and_logs_and_keeps_job_rows(
    store: SqlStore, clock: Clock
) -> None:
    """Past the age: the delivery and the notice are gone and the finished job keeps its row,
    summary and usage without payload or log; younger records and a running job are untouched."""
    old_job = await finished_job(store, "d-old", "octo/hello#1")
    assert await store.claim_notice("octo/hello", 1, "stranger", "refusal", 3600)
    await store.record_delivery(Delivery("d-running", "issues"), [new_job("octo/hello#3")])
    running = await store.lease("w", 10**9)
    assert running is not None
    clock.now += 40 * 86_400
    young_job = await finished_job(store, "d-young", "octo/hello#2")

    pruned = await store.prune(clock.now - 30 * 86_400)

    assert (pruned.deliveries, pruned.job_payloads, pruned.job_events) == (2, 1, 2)
    assert pruned.notices == 1
    assert not await store.has_delivery("d-old") and not await store.has_delivery("d-running")
    assert await store.has_delivery("d-young")
    old = await store.get_job(old_job)
    assert old is not None and old.payload == {} and await store.events(old_job) == []
    assert (old.state, old.summary, old.usage) == (
        JobState.SUCCEEDED,
        "opened a pull request",
        {"tokens": 9},
    )
    young = await store.get_job(young_job)
    assert young is not None and young.payload and len(await store.events(young_job)) == 2
    still = await store.get_job(running.id)
    assert still is not None and still.payload and still.state is JobState.RUNNING
    assert await store.running_since() == running.started_at
    assert await store.prune(clock.now - 30 * 86_400) == Pruned()  # nothing twice


async def test_pruning_a_long_backlog_goes_in_steps_and_takes_all_of_it(
    store: SqlStore, clock: Clock
) -> None:
    """More old deliveries and finished jobs than one step removes are all removed."""
    await asyncio.gather(
        *(store.record_delivery(Delivery(f"d-{n}", "star"), []) for n in range(2500))
    )
    for number in range(120):
        await finished_job(store, f"j-{number}", f"octo/hello#{number + 1}")
    clock.now += 1000

    pruned = await store.prune(clock.now)

    assert (pruned.deliveries, pruned.job_payloads, pruned.job_events) == (2620, 120, 240)
    assert all(job.payload == {} for job in await store.list_jobs(limit=200))


async def test_watchers_are_told_of_leasable_jobs_and_one_that_raises_stops_nothing(
    store: SqlStore,
) -> None:
    """watch_jobs is called after a job is queued, put back or its target freed (on PostgreSQL
    through NOTIFY); a watcher that raises fails neither the committed call nor the others."""
    woken: list[str] = []

    def broken() -> None:
        raise RuntimeError("a watcher's own bug")

    store.watch_jobs(broken)
    store.watch_jobs(lambda: woken.append("job"))
    store.watch_events(lambda job_id, seq: (_ for _ in ()).throw(RuntimeError("bug")))
    store.watch_events(lambda job_id, seq: woken.append(f"{job_id}:{seq}"))
    await wait_until(lambda: woken or store.dialect.name == "sqlite", within=30)
    woken.clear()  # PostgreSQL's listener wakes the watchers once as it connects

    [job_id] = await store.record_delivery(Delivery("d-1", "issues"), [new_job()]) or []
    await wait_until(lambda: "job" in woken, within=30)
    job = await store.lease("w", 60)
    assert job is not None
    woken.clear()
    assert await store.append_event(job_id, "claude", {}) == 1
    await wait_until(lambda: f"{job_id}:1" in woken, within=30)
    assert await store.release(job_id, "w")
    await wait_until(lambda: "job" in woken, within=30)
