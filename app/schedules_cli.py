"""`fixwright schedules`: every schedule with its next and last run and what became of the last
one, as a table for people or one JSON document for tools (the documents of `GET /v1/schedules`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from app.audit_query import REPOSITORY
from app.config import ConfigError, load_settings
from app.schedule_views import schedule_document
from app.store.schedules import ScheduleView


def render_table(documents: list[dict[str, Any]]) -> list[str]:
    """One line per schedule: where, what, when next, and the last slot's outcome."""
    if not documents:
        return ["no schedules"]
    lines = []
    for doc in documents:
        last = doc["last_run"]
        if last is None:
            outcome = "never run"
        elif last["outcome"] == "skipped":
            outcome = f"{last['slot_at']} skipped: {last['reason']}"
        else:
            outcome = f"{last['slot_at']} job {last['job_id']} {last['job_state'] or 'gone'}"
        state = "paused" if doc["paused"] else f"next {doc['next_run']}"
        lines.append(
            f"{doc['repository']}  {doc['name']}  {doc['cron']!r} {doc['timezone']}"
            f"  {doc['output']}  ({doc['source']})  {state}  last {outcome}"
        )
    return lines


def show_schedules(args: argparse.Namespace) -> int:
    """Print the schedules; 2 for an option or a setting that cannot be read."""
    from app.store import open_store

    if args.repository and not REPOSITORY.fullmatch(args.repository):
        print("fixwright schedules: --repository is not owner/name", file=sys.stderr)
        return 2
    try:
        settings = load_settings(os.environ, for_github=False)
    except ConfigError as error:
        for problem in error.problems:
            print(f"fixwright schedules: {problem}", file=sys.stderr)
        return 2

    async def read() -> list[ScheduleView]:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            return await store.schedules(args.repository or "")
        finally:
            await store.close()

    now = time.time()
    documents = [schedule_document(view, now) for view in asyncio.run(read())]
    if args.json:
        print(json.dumps({"schedules": documents}, ensure_ascii=True))
    else:
        for line in render_table(documents):
            print(line)
    return 0


def register(commands: Any) -> None:
    """Add `fixwright schedules` to the command's subcommands."""
    parser = commands.add_parser(
        "schedules", help="every schedule with its next and last run and that run's outcome"
    )
    parser.add_argument("--repository", help="only this repository (owner/name)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(func=show_schedules)
