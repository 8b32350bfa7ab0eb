"""Store calls run on the caller's event loop, the calls of one loop turn in one transaction.

A SQLite transaction of a few rows takes microseconds once nothing waits for the disk on commit
(WAL, synchronous=NORMAL); handing each one to a thread costs more than that, and the thread's
fight for the GIL with the busy loop stretched every hand-over to milliseconds
(docs/benchmarks.md). What does wait for the disk, the checkpoint's fsyncs, runs on a thread of
its own (`Checkpointer`), and a lock held by another process is waited for with the loop free.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from app.store.model import StoreUnavailable

T = TypeVar("T")

# Another process holding the write lock (an operator's command, a backup) is waited for this
# long, retrying with backoff, before the calls fail.
BUSY_PATIENCE_SECONDS = 10.0
FIRST_BUSY_RETRY_SECONDS = 0.001
LONGEST_BUSY_RETRY_SECONDS = 0.1

# How often the checkpointer copies committed pages from the log into the database file.
CHECKPOINT_INTERVAL_SECONDS = 1.0
# Past this size the log is checkpointed in full and started over, holding writers back for the
# few milliseconds that takes: under sustained writes a passive checkpoint never catches up with
# the end of the log, so SQLite never starts it over and it would grow for as long as the load lasts.
WAL_LIMIT_BYTES = 64 * 1024 * 1024
FULL_CHECKPOINT_PATIENCE_SECONDS = 0.05


@dataclass(frozen=True)
class Call:
    """One piece of store work and the future its caller awaits."""

    work: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


Outcome = tuple[Call, Any, BaseException | None]


def run_batch(db: sqlite3.Connection, batch: list[Call]) -> list[Outcome]:
    """Run calls in one transaction; results hold only once it has committed.

    A call that raises is rolled back alone: the batch then runs again with each call in its own
    savepoint (the first pass does without, as calls almost never fail). If the transaction
    cannot begin or commit, every call fails.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        return all_failed(batch, error)
    try:
        outcomes: list[Outcome] = [(call, call.work(db), None) for call in batch]
    except Exception as error:
        db.execute("ROLLBACK")
        if len(batch) == 1:
            return [(batch[0], None, error)]
        return run_each_in_savepoint(db, batch)
    return committed(db, outcomes)


def run_each_in_savepoint(db: sqlite3.Connection, batch: list[Call]) -> list[Outcome]:
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        return all_failed(batch, error)
    outcomes: list[Outcome] = []
    for call in batch:
        db.execute("SAVEPOINT call")
        try:
            outcomes.append((call, call.work(db), None))
        except Exception as error:
            db.execute("ROLLBACK TO call")
            outcomes.append((call, None, error))
        db.execute("RELEASE call")
    return committed(db, outcomes)


def committed(db: sqlite3.Connection, outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes once COMMIT succeeded; every call failed if it did not."""
    try:
        db.execute("COMMIT")
    except sqlite3.Error as error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return all_failed([call for call, _, _ in outcomes], error)
    return outcomes


def all_failed(batch: list[Call], error: sqlite3.Error) -> list[Outcome]:
    """Every call fails with the transaction's error; one of the database's state (locked, disk
    full, read-only) as StoreUnavailable, which callers can answer for without knowing SQLite."""
    if isinstance(error, sqlite3.OperationalError):
        unavailable = StoreUnavailable(f"the job store could not write: {error}")
        unavailable.__cause__ = error
        return [(call, None, unavailable) for call in batch]
    return [(call, None, error) for call in batch]


def is_busy(outcomes: list[Outcome]) -> bool:
    """True when the batch could not start because another connection holds the write lock."""
    return all(
        error is not None
        and isinstance(error.__cause__, sqlite3.OperationalError)
        and getattr(error.__cause__, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
        for _, _, error in outcomes
    )


def settle(outcomes: list[Outcome]) -> None:
    """Hand each caller its result or error (unless it stopped waiting)."""
    for call, result, error in outcomes:
        if call.future.done():
            continue
        if error is None:
            call.future.set_result(result)
        else:
            call.future.set_exception(error)


class Lane:
    """One connection shared by every caller; calls made in one loop turn share one commit.

    The first call of a turn schedules the flush at the end of the turn, so the deliveries and
    job updates that arrive together are written together. Calls take effect in the order they
    were made, reads included. Callers on other threads' loops are served too (a lock keeps the
    connection to one at a time).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._pending: dict[asyncio.AbstractEventLoop, list[Call]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.committed = threading.Event()  # set after each commit, for the checkpointer

    def submit(self, work: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self._closed:
            raise sqlite3.ProgrammingError("the job store is closed")
        loop = asyncio.get_running_loop()
        call = Call(work, loop.create_future())
        pending = self._pending.get(loop)
        if pending is None:
            self._pending[loop] = [call]
            loop.call_soon(self._flush, loop, 0.0)
        else:
            pending.append(call)
        return call.future

    def _flush(self, loop: asyncio.AbstractEventLoop, waited: float) -> None:
        batch = self._pending.pop(loop)
        outcomes = self._try_batch(batch)
        if waited < BUSY_PATIENCE_SECONDS and (outcomes is None or is_busy(outcomes)):
            # Calls made meanwhile join the waiting batch, so the order still holds.
            self._pending[loop] = batch
            delay = min(max(waited, FIRST_BUSY_RETRY_SECONDS), LONGEST_BUSY_RETRY_SECONDS)
            loop.call_later(delay, self._flush, loop, waited + delay)
            return
        if outcomes is None:
            held = StoreUnavailable("the job store's connection stayed held")
            outcomes = [(call, None, held) for call in batch]
        self.committed.set()
        settle(outcomes)

    def _try_batch(self, batch: list[Call]) -> list[Outcome] | None:
        """The batch's outcomes; None while the connection is held (`held`, another loop)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return run_batch(self._db, batch)
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Keep the lane from writing (blocking: call it off the loop); its calls wait, the loop
        stays free."""
        with self._lock:
            yield

    def close(self) -> None:
        """Run what this loop still has pending, then close the connection."""
        self._closed = True
        with self._lock:
            pending = self._pending.pop(asyncio.get_running_loop(), [])
            settle(run_batch(self._db, pending) if pending else [])
            self._db.close()


class Checkpointer:
    """Copies the write-ahead log into the database file from its own thread and connection.

    SQLite's automatic checkpoint would run inside a commit on the event loop and wait there
    for two fsyncs; a passive checkpoint here blocks no reader and no writer. Only a log past
    its limit calls for a full one, which holds the lane back while it runs.
    """

    def __init__(self, path: Path, lane: Lane, wal_limit_bytes: int = WAL_LIMIT_BYTES) -> None:
        self._path = path
        self._wal = path.with_name(path.name + "-wal")
        self._wal_limit_bytes = wal_limit_bytes
        self._lane = lane
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="fixwright-checkpoint", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        # A full checkpoint waits this long for other processes' readers (a backup, `fixwright
        # jobs`) while it holds the lane back; if they stay, it gives up and tries a second later.
        db = sqlite3.connect(
            self._path,
            timeout=FULL_CHECKPOINT_PATIENCE_SECONDS,
            check_same_thread=False,
            isolation_level=None,
        )
        try:
            while not self._stopping.wait(CHECKPOINT_INTERVAL_SECONDS):
                if self._lane.committed.is_set():
                    self._lane.committed.clear()
                    self._checkpoint(db, "RESTART")
                elif self._wal_bytes() > self._wal_limit_bytes:
                    self._checkpoint(db, "TRUNCATE")  # writes paused: the file can go
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection, full: str) -> None:
        """A passive checkpoint, then, past the limit, a `full` one with the lane held back.

        While commits keep coming the full one is RESTART: the log starts over from its
        beginning and SQLite cuts the file back to the limit (journal_size_limit). Emptying it
        (TRUNCATE) cost the held-back lane the time to free the file's blocks, and the commits
        after it the time to allocate them again: with lone deliveries the log passes its limit
        about every second, and the longest write fell from 134-156 ms to 73-110 ms
        (docs/benchmarks.md). Once writes pause it is emptied.
        """
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if self._wal_bytes() > self._wal_limit_bytes:
                # The lane commits every loop turn: held back, it leaves the writer's lock free.
                with self._lane.held():
                    db.execute(f"PRAGMA wal_checkpoint({full})").fetchone()
        except sqlite3.Error as error:  # tried again after the next commit
            structlog.get_logger("fixwright").warning("store.checkpoint_failed", error=str(error))

    def _wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        """Stop the thread (blocking: call it off the loop)."""
        self._stopping.set()
        self._thread.join()
