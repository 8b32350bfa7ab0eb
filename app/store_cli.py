"""`fixwright migrate`: bring the store's schema up to this version ahead of `serve`, which
does the same at start (README, The store)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.approval_cli import store_settings


def migrate(args: argparse.Namespace) -> int:
    """Apply the pending migrations; 1 when the store cannot be reached or is newer than this
    fixwright, 2 for settings that cannot be read (a store URL of no known engine)."""
    del args
    from app.store import StoreUnavailable, migrate_store
    from app.store.migrations import SchemaTooNew

    settings = store_settings("migrate")
    if settings is None:
        return 2
    engine = settings.store_url.split(":", 1)[0]
    try:
        before, after = migrate_store(settings.store_url)
    except (StoreUnavailable, SchemaTooNew) as error:
        print(f"fixwright migrate: {error}", file=sys.stderr)
        return 1
    if before == after:
        print(f"the {engine} store's schema is at version {after}: nothing to apply")
    else:
        print(f"the {engine} store's schema went from version {before} to {after}")
    return 0


def store_refusal(url: str) -> str | None:
    """Why `serve` cannot start on this store (unreachable, or a schema newer than this
    fixwright), after applying what migrations are pending; None when it can."""
    from app.store import StoreUnavailable, migrate_store
    from app.store.migrations import SchemaTooNew

    try:
        migrate_store(url)
    except (StoreUnavailable, SchemaTooNew) as error:
        return str(error)
    return None


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate", help="apply the store's pending schema migrations (serve does it at start)"
    )
    parser.set_defaults(func=migrate)
