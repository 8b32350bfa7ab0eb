"""The embedded job store: SQLite in WAL mode, one connection whose calls group-commit on the
event loop (app/store/lane.py); the SQL itself is the engines' shared `SqlStore`."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from app.store.dialect import SQLITE, Db
from app.store.lane import WAL_LIMIT_BYTES, Checkpointer, Lane
from app.store.migrations import apply_pending
from app.store.sql import (  # noqa: F401 (prune_* for bench/retention.py)
    SqlStore,
    prune_deliveries,
    prune_jobs,
)

T = TypeVar("T")


def migrate_sqlite(db: sqlite3.Connection) -> tuple[int, int]:
    """Apply the pending migrations in one transaction (two processes may open the same file
    at once: BEGIN IMMEDIATE makes the second wait, then find nothing to do); (before, after)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        versions = apply_pending(db, SQLITE)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return versions


def sqlite_path(url: str) -> Path:
    """The file behind sqlite:///relative/path or sqlite:////absolute/path."""
    return Path(url.removeprefix("sqlite:///"))


# normal (the default), in WAL mode, writes each commit to the log before the call returns, so a
# killed or crashed process loses nothing it answered; the log reaches the disk at checkpoints, so
# a power cut or kernel crash may lose the last commits. full syncs every (grouped) commit and
# survives a power cut too, but the sync waits on the event loop: about 0.7x the intake's rate and
# p99s of tens to hundreds of milliseconds at 32 connections (docs/benchmarks.md).
SYNCHRONOUS_LEVELS = {"normal": 1, "full": 2}


class SQLiteStore(SqlStore):
    """The Store on one SQLite file, its calls grouped into shared commits on the event loop.

    Concurrent writes share one commit instead of queueing for a lock each (see app/store/lane.py).
    Every call takes effect in the order it was made (reads too: a read never overtakes an
    earlier write, which callers such as the orphan sweep after a reclaim rely on).
    """

    dialect = SQLITE

    def __init__(
        self,
        path: Path,
        *,
        max_attempts: int = 2,
        clock: Callable[[], float] = time.time,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
        synchronous: str = "normal",
    ):
        super().__init__(max_attempts=max_attempts, clock=clock)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={SYNCHRONOUS_LEVELS[synchronous]}")
        # As SQLite applied it, for the start-up log line.
        level = db.execute("PRAGMA synchronous").fetchone()[0]
        self.synchronous = {v: k for k, v in SYNCHRONOUS_LEVELS.items()}.get(level, str(level))
        db.execute("PRAGMA busy_timeout=10000")  # only while the schema is set up
        migrate_sqlite(db)
        # From here on the lane waits for other processes' locks, and the checkpointer checkpoints.
        db.execute("PRAGMA busy_timeout=0")
        db.execute("PRAGMA wal_autocheckpoint=0")
        # A log that grew during a burst shrinks back to this size when SQLite starts it over.
        db.execute(f"PRAGMA journal_size_limit={int(wal_limit_bytes)}")
        self._lane = Lane(db)
        self._checkpointer = Checkpointer(path, self._lane, wal_limit_bytes)

    async def _run(self, work: Callable[[Db], T]) -> T:
        """Run `work` in a transaction; it has committed (durably) when this returns."""
        return await self._lane.submit(work)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await asyncio.to_thread(self._checkpointer.stop)
        self._lane.close()
