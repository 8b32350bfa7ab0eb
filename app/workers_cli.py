"""`fixwright workers`: the worker processes in the registry, as a table or as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.audit import one_line
from app.config import ConfigError, Settings, load_settings
from app.store.workers import WorkerRecord
from app.workers_registry import status_of, worker_view

COLUMNS = ("worker", "status", "engine", "capacity", "running", "started (UTC)", "heartbeat")
# Host names and engine addresses are short; longer ones are cut, never wrapped.
MAX_CELL = 60


def worker_row(worker: WorkerRecord, now: float, settings: Settings) -> tuple[str, ...]:
    """One process's cells, each one line with no control character."""
    return (
        one_line(worker.id, MAX_CELL),
        status_of(worker, now, settings),
        one_line(worker.engine, MAX_CELL),
        str(worker.capacity),
        f"{len(worker.running)}: {', '.join(worker.running)}" if worker.running else "0",
        datetime.fromtimestamp(worker.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        f"{max(0.0, now - worker.heartbeat_at):.0f} s ago",
    )


def render_table(workers: Sequence[WorkerRecord], now: float, settings: Settings) -> list[str]:
    """A column for each field, as wide as its widest cell; the running jobs last."""
    rows = [COLUMNS, *(worker_row(worker, now, settings) for worker in workers)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def show_workers(args: argparse.Namespace) -> int:
    """Print the registry; 2 for settings that cannot be read. Only the store's are needed."""
    from app.store import open_store

    try:
        settings = load_settings(os.environ, for_github=False)
    except ConfigError as error:
        for problem in error.problems:
            print(f"fixwright workers: {problem}", file=sys.stderr)
        return 2

    async def read() -> list[WorkerRecord]:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            return await store.workers()
        finally:
            await store.close()

    workers = asyncio.run(read())
    now = time.time()
    if args.json:
        print(json.dumps([worker_view(w, now, settings) for w in workers], ensure_ascii=True))
    elif workers:
        for line in render_table(workers, now, settings):
            print(line)
    else:
        print("no worker process is registered: start one with `fixwright serve --role worker`")
    return 0


def register(commands: Any) -> None:
    """Add `fixwright workers` to the command's subcommands."""
    parser = commands.add_parser(
        "workers", help="list the worker processes: host, engine, capacity, running jobs"
    )
    parser.add_argument("--json", action="store_true", help="a JSON array of the processes")
    parser.set_defaults(func=show_workers)
