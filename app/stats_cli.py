"""`fixwright stats`: what became of fixwright's pull requests, per repository, as a table for
people or one JSON document for tools (the figures of `GET /v1/stats`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from app.audit_query import REPOSITORY, parse_since
from app.config import ConfigError, load_settings
from app.outcome_stats import DEFAULT_SINCE, Findings, render_table, stats_document
from app.store.outcomes import PullRequestOutcome


def period_of(args: argparse.Namespace, now: float) -> tuple[str, float]:
    """(repository, since) the options ask for; ValueError for one that cannot be read."""
    if args.repository and not REPOSITORY.fullmatch(args.repository):
        raise ValueError(f"--repository {args.repository[:100]!r} is not owner/name")
    return args.repository or "", parse_since(args.since[:40], now)


def show_stats(args: argparse.Namespace) -> int:
    """Print the figures; 2 for an option or a setting that cannot be read. Only the store's
    settings are needed."""
    from app.store import open_store

    try:
        repository, since = period_of(args, time.time())
        settings = load_settings(os.environ, for_github=False)
    except ValueError as error:
        print(f"fixwright stats: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        for problem in error.problems:
            print(f"fixwright stats: {problem}", file=sys.stderr)
        return 2

    async def read() -> tuple[list[PullRequestOutcome], Findings]:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            outcomes = await store.pull_request_outcomes(since, repository)
            return outcomes, await store.review_finding_counts(since, repository)
        finally:
            await store.close()

    outcomes, findings = asyncio.run(read())
    if args.json:
        print(json.dumps(stats_document(outcomes, since, findings), ensure_ascii=True))
    else:
        for line in render_table(outcomes, findings):
            print(line)
    return 0


def register(commands: Any) -> None:
    """Add `fixwright stats` to the command's subcommands."""
    parser = commands.add_parser(
        "stats",
        help="what became of fixwright's pull requests, per repository: merged, closed, open",
    )
    parser.add_argument("--repository", help="only this repository (owner/name)")
    parser.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        help=f"pull requests opened since an age (30m, 12h, 7d, 2w; default {DEFAULT_SINCE}), "
        "a UTC date or an ISO time",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(func=show_stats)
