"""`fixwright keys`: create, list and revoke the task API's keys.

A key is printed once, when it is made; the store keeps only its secret's SHA-256, so a lost key
is revoked and replaced, never shown again.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from datetime import UTC, datetime
from typing import Any

from app.api.auth import KEY_ID, SCOPES, new_key
from app.approval_cli import store_settings
from app.audit import Action, audit, one_line
from app.config_values import duration_seconds
from app.store.api_keys import ApiKeyRecord

DEFAULT_SCOPES = "tasks:write,tasks:read"
MAX_NAME = 100
# A rate limit a key may be given: up to a request every few milliseconds for an hour.
MAX_PER_MINUTE = 100_000
MAX_PER_HOUR = 1_000_000


def name_argument(text: str) -> str:
    """`--name`: one printable line of at most 100 characters."""
    if not 1 <= len(text) <= MAX_NAME or not text.isprintable():
        raise argparse.ArgumentTypeError(f"use one line of 1 to {MAX_NAME} printable characters")
    return text


def scopes_argument(text: str) -> tuple[str, ...]:
    """`--scope`: known scopes, comma-separated."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise argparse.ArgumentTypeError(
            f"{one_line(', '.join(unknown), 100) or 'no scope'}: use {', '.join(SCOPES)}"
        )
    return scopes


def expires_argument(text: str) -> float:
    """`--expires`: a duration from a minute to ten years."""
    try:
        seconds = duration_seconds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not 60 <= seconds <= 3650 * 86_400:
        raise argparse.ArgumentTypeError("use a duration from 1m to 3650d, such as 30d")
    return seconds


def limit_argument(most: int) -> Any:
    def parse(text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= most:
            raise argparse.ArgumentTypeError(f"use a number from 1 to {most}")
        return int(text)

    return parse


def operator() -> str:
    """Who ran the command, for the audit trail."""
    try:
        return "cli:" + one_line(getpass.getuser(), 60)
    except (OSError, KeyError):
        return "cli"


def when(moment: float | None, never: str = "never") -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M") + "Z" if moment else never


def state_of(key: ApiKeyRecord, now: float) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def key_line(key: ApiKeyRecord, now: float) -> str:
    """One key without its secret: id, state, scopes, limits, dates, name."""
    limits = f"{key.per_minute or 'default'}/min {key.per_hour or 'default'}/h"
    return "  ".join(
        [
            key.id,
            f"{state_of(key, now):<7}",
            ",".join(key.scopes),
            limits,
            f"created {when(key.created_at)}",
            f"expires {when(key.expires_at)}",
            one_line(key.name, MAX_NAME),
        ]
    )


def run_on_store(command: str, work: Any) -> Any:
    """`work(store)` on the configured store; None (said why) when the settings cannot be read."""
    from app.store import open_store

    settings = store_settings(command)
    if settings is None:
        return None

    async def run() -> Any:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def create(args: argparse.Namespace) -> int:
    """Make a key and print it once."""
    now = time.time()
    made = new_key(
        args.name,
        args.scope,
        now,
        expires_at=now + args.expires if args.expires else None,
        per_minute=args.per_minute,
        per_hour=args.per_hour,
    )

    async def work(store: Any) -> bool:
        await store.add_api_key(made.record)
        await audit(
            store,
            Action.API_KEY_CREATED,
            actor=operator(),
            subject=made.record.id,
            detail=f"{made.record.name} with {', '.join(made.record.scopes)}",
        )
        return True

    if run_on_store("keys create", work) is None:
        return 2
    print(f"id:      {made.record.id}")
    print(f"key:     {made.key}")
    print(f"scopes:  {', '.join(made.record.scopes)}")
    print(f"expires: {when(made.record.expires_at)}")
    print("The key is shown only now: keep it in a secret store. Use it as")
    print("  curl -H 'Authorization: Bearer <key>' https://<fixwright host>/v1/tasks")
    return 0


def list_keys(args: argparse.Namespace) -> int:
    """Every key with its state; never a secret (none is kept)."""
    del args

    async def work(store: Any) -> list[ApiKeyRecord]:
        return list(await store.api_keys())

    keys = run_on_store("keys list", work)
    if keys is None:
        return 2
    now = time.time()
    for line in [key_line(key, now) for key in keys] or ["no API key (fixwright keys create)"]:
        print(line)
    return 0


def revoke(args: argparse.Namespace) -> int:
    """Revoke a key: every request with it is refused from now on."""
    if not KEY_ID.fullmatch(args.key_id):
        print(
            f"fixwright keys revoke: {one_line(args.key_id, 40)!r} is not a key id "
            "(16 hexadecimal characters, from `fixwright keys list`)",
            file=sys.stderr,
        )
        return 2

    async def work(store: Any) -> str:
        key = await store.api_key(args.key_id)
        if key is None:
            return "unknown"
        if not await store.revoke_api_key(key.id):
            return "already"
        await audit(
            store, Action.API_KEY_REVOKED, actor=operator(), subject=key.id, detail=key.name
        )
        return "revoked"

    outcome = run_on_store("keys revoke", work)
    if outcome is None:
        return 2
    if outcome == "revoked":
        print(f"revoked {args.key_id}: requests with it are refused from now on")
        return 0
    reason = "is unknown" if outcome == "unknown" else "was revoked already"
    print(f"fixwright keys revoke: the key {args.key_id} {reason}", file=sys.stderr)
    return 1


def register(commands: Any) -> None:
    """Add `fixwright keys create|list|revoke` to the command's subcommands."""
    parser = commands.add_parser("keys", help="create, list and revoke the task API's keys")
    actions = parser.add_subparsers(dest="keys_command", required=True)
    made = actions.add_parser("create", help="make a key and print it once")
    made.add_argument("--name", required=True, type=name_argument, help="who or what uses it")
    made.add_argument(
        "--scope",
        type=scopes_argument,
        default=scopes_argument(DEFAULT_SCOPES),
        help=f"comma-separated, of {', '.join(SCOPES)} (default {DEFAULT_SCOPES})",
    )
    made.add_argument(
        "--expires",
        type=expires_argument,
        help="how long it works: 30d, 12h (default: until revoked)",
    )
    made.add_argument(
        "--per-minute",
        type=limit_argument(MAX_PER_MINUTE),
        help="its requests a minute (default FIXWRIGHT_API_RATE_PER_MINUTE)",
    )
    made.add_argument(
        "--per-hour",
        type=limit_argument(MAX_PER_HOUR),
        help="its requests an hour (default FIXWRIGHT_API_RATE_PER_HOUR)",
    )
    made.set_defaults(func=create)
    listing = actions.add_parser("list", help="every key and its state (never a secret)")
    listing.set_defaults(func=list_keys)
    revoking = actions.add_parser("revoke", help="refuse every request with a key from now on")
    revoking.add_argument("key_id", help="the key's id (from `fixwright keys list`)")
    revoking.set_defaults(func=revoke)
