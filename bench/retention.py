"""How long one retention step holds the store (and with it the event loop) over a long backlog.

python -m bench.retention [--deliveries 200000] [--jobs 2000] [--events 200]

Fills a fresh SQLite store as the service would have (deliveries, finished jobs with an 8 KB
payload and a log each), then removes all of it step by step, as `SQLiteStore.prune` does, and
prints the median and longest step.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from app.store.model import dumps
from app.store.sqlite import SQLiteStore, prune_deliveries, prune_jobs

Step = Callable[[sqlite3.Connection, float], tuple[int, object]]


def filled_store(path: Path, deliveries: int, jobs: int, events: int) -> sqlite3.Connection:
    asyncio.run(SQLiteStore(path).close())  # the service's schema, indexes included
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for n in range(deliveries):
        db.execute(
            "INSERT INTO deliveries (id, event, action, installation_id, repository, outcome,"
            " received_at) VALUES (?, 'issues', 'labeled', 1, 'o/r', 'ignored', ?)",
            (uuid.uuid4().hex, float(n)),
        )
    payload = dumps({"event": "issues", "payload": {"body": "x" * 8000}})
    for n in range(jobs):
        job_id = uuid.uuid4().hex
        db.execute(
            "INSERT INTO jobs (id, kind, repository, target, delivery_id, payload, state,"
            " max_attempts, created_at, updated_at, finished_at)"
            " VALUES (?, 'fix', 'o/r', 'o/r#1', 'd', ?, 'succeeded', 2, ?, ?, ?)",
            (job_id, payload, float(n), float(n), float(n)),
        )
        db.executemany(
            "INSERT INTO job_events VALUES (?, ?, ?, 'claude', '{\"type\":\"assistant\"}')",
            [(job_id, seq, float(n)) for seq in range(events)],
        )
    db.execute("COMMIT")
    return db


def timed_steps(db: sqlite3.Connection, step: Step) -> list[float]:
    """Each step in its own transaction, until one removes nothing."""
    times = []
    while True:
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        removed, _ = step(db, float("inf"))
        db.execute("COMMIT")
        times.append(time.perf_counter() - started)
        if not removed:
            return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--events", type=int, default=200, help="log entries per job")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db = filled_store(Path(scratch) / "fixwright.db", args.deliveries, args.jobs, args.events)
        for name, step in (("deliveries", prune_deliveries), ("jobs", prune_jobs)):
            times = timed_steps(db, step)
            print(
                f"{name}: {len(times)} steps, median {statistics.median(times) * 1000:.1f} ms,"
                f" longest {max(times) * 1000:.1f} ms"
            )
        db.close()


if __name__ == "__main__":
    main()
