"""The worker registry: one row per worker process, kept fresh by its heartbeats.

A process that stops heartbeating is marked lost by whichever worker process looks next, and the
leases its workers held are ended at once, so the lease reaper puts their jobs back (counting the
attempt) without waiting for each lease to run out. Its workers lease jobs as `<process id>/<n>`
(app/worker.py), which is how its jobs are found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.store.dialect import Db

# Lost processes are listed for a day, then forgotten.
LOST_KEPT_SECONDS = 86_400.0

WORKERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    engine TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    running TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    lost_at REAL
);
"""
COLUMNS = "id, host, pid, engine, capacity, running, started_at, heartbeat_at, lost_at"


@dataclass(frozen=True)
class WorkerRecord:
    """A worker process as it last reported itself: where it runs, on which Docker engine, how
    many jobs it may run at once and which it runs now. `lost_at` is set once it missed its
    heartbeats."""

    id: str
    host: str
    pid: int
    engine: str
    capacity: int
    running: tuple[str, ...]
    started_at: float
    heartbeat_at: float
    lost_at: float | None = None


def worker_of(row: tuple[Any, ...]) -> WorkerRecord:
    worker_id, host, pid, engine, capacity, running, started_at, heartbeat_at, lost_at = row
    return WorkerRecord(
        id=worker_id,
        host=host,
        pid=int(pid),
        engine=engine,
        capacity=int(capacity),
        running=tuple(json.loads(running)),
        started_at=float(started_at),
        heartbeat_at=float(heartbeat_at),
        lost_at=float(lost_at) if lost_at is not None else None,
    )


def upsert_worker(db: Db, worker: WorkerRecord) -> None:
    """Register a process or refresh its row; one that was marked lost and beats again is back."""
    db.execute(
        f"INSERT INTO workers ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)"  # noqa: S608
        " ON CONFLICT (id) DO UPDATE SET capacity = excluded.capacity,"
        " running = excluded.running, heartbeat_at = excluded.heartbeat_at, lost_at = NULL",
        (
            worker.id,
            worker.host,
            worker.pid,
            worker.engine,
            worker.capacity,
            json.dumps(list(worker.running)),
            worker.started_at,
            worker.heartbeat_at,
        ),
    )


def delete_worker(db: Db, worker_id: str) -> bool:
    """A process that stopped on purpose leaves the registry."""
    return bool(db.execute("DELETE FROM workers WHERE id = ?", (worker_id,)).rowcount)


def select_workers(db: Db) -> list[WorkerRecord]:
    """Every registered process, the longest-running first."""
    rows = db.execute(
        f"SELECT {COLUMNS} FROM workers ORDER BY started_at, id"  # noqa: S608 (constant)
    ).fetchall()
    return [worker_of(row) for row in rows]


def mark_lost(db: Db, before: float, now: float) -> list[str]:
    """Mark lost the processes whose last heartbeat is older than `before`, and end the leases
    their workers hold (the reaper then takes the jobs back); forget those lost long ago."""
    lost = [
        worker_id
        for (worker_id,) in db.execute(
            "SELECT id FROM workers WHERE lost_at IS NULL AND heartbeat_at < ? ORDER BY id",
            (before,),
        ).fetchall()
    ]
    for worker_id in lost:
        db.execute("UPDATE workers SET lost_at = ? WHERE id = ?", (now, worker_id))
        prefix = worker_id + "/"
        db.execute(
            "UPDATE jobs SET lease_expires_at = 0"
            " WHERE state IN ('running', 'cancelled') AND lease_owner IS NOT NULL"
            " AND substr(lease_owner, 1, ?) = ?",
            (len(prefix), prefix),
        )
    db.execute("DELETE FROM workers WHERE lost_at < ?", (now - LOST_KEPT_SECONDS,))
    return lost
