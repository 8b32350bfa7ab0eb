"""`fixwright approvals`: the requests waiting for approval, and a token that decides one over HTTP.

The token's secret is printed once and never stored (the store keeps its SHA-256): hand it to
the one integration that should decide, never to a public place.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from app.audit import one_line
from app.config import ConfigError, Settings, load_settings
from app.config_values import duration_seconds
from app.store.model import Approval

DEFAULT_EXPIRY = "1h"
LONGEST_TOKEN_EXPIRY_SECONDS = 30 * 86_400.0


def store_settings(command: str) -> Settings | None:
    """Only the store's settings (the App's are not read), or None after saying why."""
    try:
        return load_settings(os.environ, for_github=False)
    except ConfigError as error:
        for problem in error.problems:
            print(f"fixwright {command}: {problem}", file=sys.stderr)
        return None


def approval_line(approval: Approval, now: float) -> str:
    """One waiting request: the job id to mint a token for, where, who, and time left."""
    left = max(0, int(approval.expires_at - now))
    hours, minutes = divmod(left // 60, 60)
    return "  ".join(
        [
            approval.job_id,
            one_line(approval.kind, 20),
            one_line(approval.target, 100),
            one_line(f"@{approval.requested_by}", 60),
            f"requested {datetime.fromtimestamp(approval.requested_at, UTC):%Y-%m-%d %H:%M}Z",
            f"expires in {hours}h{minutes:02d}m",
        ]
    )


def list_approvals(args: argparse.Namespace) -> int:
    """Print the requests waiting for approval, oldest first."""
    del args
    from app.store import open_store

    settings = store_settings("approvals")
    if settings is None:
        return 2

    async def read() -> list[Approval]:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            return await store.pending_approvals(limit=1000)
        finally:
            await store.close()

    pending = asyncio.run(read())
    now = time.time()
    for line in [approval_line(a, now) for a in pending] or ["no request waits for approval"]:
        print(line)
    return 0


def mint(args: argparse.Namespace) -> int:
    """Mint a single-use token for one waiting job and print it, with how to use it, once."""
    from app.approval_routes import mint_token
    from app.store import open_store

    try:
        expires = duration_seconds(args.expires)
    except ValueError as error:
        print(f"fixwright approvals token: --expires {error}", file=sys.stderr)
        return 2
    if not 60 <= expires <= LONGEST_TOKEN_EXPIRY_SECONDS:
        print("fixwright approvals token: --expires must be from 1m to 30d", file=sys.stderr)
        return 2
    settings = store_settings("approvals token")
    if settings is None:
        return 2

    async def run() -> Any:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            return await mint_token(store, args.job_id, expires)
        finally:
            await store.close()

    minted = asyncio.run(run())
    if minted is None:
        print(
            f"fixwright approvals token: job {one_line(args.job_id, 64)!r} is not waiting for "
            "approval (see `fixwright approvals`)",
            file=sys.stderr,
        )
        return 1
    until = datetime.fromtimestamp(minted.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    print(f"token id: {minted.token_id}")
    print(f"secret:   {minted.secret}")
    print(f"expires:  {until} (single use; shown only now)")
    print("decide with:")
    print(
        f"  curl -X POST https://<fixwright host>/v1/approvals/{minted.token_id} "
        f"-H 'Authorization: Bearer {minted.secret}' "
        "-H 'Content-Type: application/json' -d '{\"decision\": \"approve\"}'"
    )
    return 0


def register(commands: Any) -> None:
    """Add `fixwright approvals` (and `approvals token`) to the command's subcommands."""
    parser = commands.add_parser(
        "approvals", help="list requests waiting for approval, or mint a token to decide one"
    )
    parser.set_defaults(func=list_approvals)
    actions = parser.add_subparsers(dest="approvals_command")
    token = actions.add_parser(
        "token", help="mint a single-use token that approves or denies one job over HTTP"
    )
    token.add_argument("job_id", help="the waiting job's id (from `fixwright approvals`)")
    token.add_argument(
        "--expires",
        default=DEFAULT_EXPIRY,
        help="how long the token works: 30m, 1h, 2d (default 1h, at most 30d)",
    )
    token.set_defaults(func=mint)
