"""`fixwright audit`: the audit trail, as a table for people or JSON lines for tools."""

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

from app.audit import MAX_DETAIL_CHARACTERS, MAX_FIELD_CHARACTERS, one_line
from app.audit_query import REPOSITORY, entry_record, parse_since
from app.config import ConfigError, load_settings
from app.store.model import AuditEntry, AuditQuery

COLUMNS = ("time (UTC)", "action", "actor", "repository", "subject", "detail")
# The table's columns before the detail are no wider than this; the detail takes the rest.
MAX_COLUMN_WIDTH = 40
DEFAULT_LIMIT = 1000
MAX_LIMIT = AuditQuery.limit


def entry_row(entry: AuditEntry) -> tuple[str, ...]:
    """One entry's cells, each one line with no control character (so no terminal escape)."""
    return (
        datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        entry.action,
        one_line(entry.actor, MAX_FIELD_CHARACTERS),
        one_line(entry.repository, MAX_FIELD_CHARACTERS),
        one_line(entry.subject, MAX_FIELD_CHARACTERS),
        one_line(entry.detail, MAX_DETAIL_CHARACTERS),
    )


def render_table(entries: Sequence[AuditEntry]) -> list[str]:
    """A column for each field, as wide as its widest cell (up to a limit), the detail last."""
    rows = [COLUMNS, *(entry_row(entry) for entry in entries)]
    widths = [
        min(max(len(row[column]) for row in rows), MAX_COLUMN_WIDTH)
        for column in range(len(COLUMNS) - 1)
    ]
    return [
        "  ".join(
            [
                *(cell[:width].ljust(width) for cell, width in zip(row, widths, strict=False)),
                row[-1],
            ]
        ).rstrip()
        for row in rows
    ]


def entry_json(entry: AuditEntry) -> str:
    """One JSON line; non-ASCII is escaped, so the line is inert on any terminal."""
    return json.dumps(entry_record(entry), ensure_ascii=True)


def query_of(args: argparse.Namespace, now: float) -> AuditQuery:
    """The query the options ask for; ValueError for an option that cannot be read."""
    if args.repo and not REPOSITORY.fullmatch(args.repo):
        raise ValueError(f"--repo {args.repo[:100]!r} is not a repository: use owner/name")
    since = parse_since(args.since, now) if args.since is not None else 0.0
    return AuditQuery(
        since=since, repository=args.repo or "", actor=args.actor or "", limit=args.limit
    )


def show_audit(args: argparse.Namespace) -> int:
    """Print the audit trail's entries that match, oldest first; 2 for an option or a setting
    that cannot be read. Only the store's settings are needed: the App's are not read."""
    from app.store import open_store

    try:
        query = query_of(args, time.time())
        settings = load_settings(os.environ, for_github=False)
    except ValueError as error:
        print(f"fixwright audit: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        for problem in error.problems:
            print(f"fixwright audit: {problem}", file=sys.stderr)
        return 2

    async def read() -> list[AuditEntry]:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            return await store.audit_entries(query)
        finally:
            await store.close()

    entries = asyncio.run(read())
    if args.json:
        lines = [entry_json(entry) for entry in entries]
    else:
        lines = render_table(entries) if entries else ["no audit entries match"]
    for line in lines:
        print(line)
    return 0


def limit(text: str) -> int:
    """`--limit`: a whole number from 1 to the store's own cap."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"use a number from 1 to {MAX_LIMIT}")
    return int(text)


def register(commands: Any) -> None:
    """Add `fixwright audit` to the command's subcommands."""
    parser = commands.add_parser(
        "audit", help="print the audit trail: triggers, approvals, cancellations, refusals, pushes"
    )
    parser.add_argument("--repo", help="only this repository (owner/name)")
    parser.add_argument("--actor", help="only this GitHub login (or fixwright)")
    parser.add_argument(
        "--since", help="only entries since an age (30m, 12h, 7d, 2w), a UTC date or an ISO time"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument(
        "--limit", type=limit, default=DEFAULT_LIMIT, help="at most this many, the newest"
    )
    parser.set_defaults(func=show_audit)
