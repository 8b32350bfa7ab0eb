"""The `fixwright` command: serve, inspect jobs, and the sandbox commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from app import (
    approval_cli,
    audit_cli,
    doctor,
    environment_cli,
    keys_cli,
    sandbox_cli,
    schedules_cli,
    secrets_cli,
    stats_cli,
    store_cli,
    workers_cli,
)
from app.config import ConfigError, Settings, settings_from_environment


def load_or_explain(
    overrides: dict[str, str] | None = None, *, setup_allowed: bool = False
) -> Settings | None:
    """Settings from the environment, or None after printing every problem to stderr."""
    try:
        return settings_from_environment(overrides, setup_allowed=setup_allowed)
    except ConfigError as error:
        print("fixwright: the configuration has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("See README.md, section Configuration.", file=sys.stderr)
        return None


def serve(args: argparse.Namespace) -> int:
    """Run the web service and its workers until stopped."""
    import uvicorn

    from app.log import configure_logging
    from app.server import DrainingServer
    from app.web import create_app
    from handlers import build_registry

    # --host is checked as FIXWRIGHT_HOST is (a non-loopback address needs the metrics token).
    # Without the App's credentials it starts in set-up mode (app/setup_routes.py).
    overrides = {"FIXWRIGHT_HOST": args.host} if args.host else {}
    if args.role:
        overrides["FIXWRIGHT_ROLE"] = args.role  # checked as FIXWRIGHT_ROLE is
    settings = load_or_explain(overrides, setup_allowed=True)
    if settings is None:
        return 2
    # In a container only (README, Deployment); a web node runs no job, so its paths do not matter.
    misplaced = doctor.misplaced_data(settings) if settings.role != "web" else []
    if misplaced:
        print("fixwright: jobs would fail in this container:", file=sys.stderr)
        for problem in misplaced:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    refusal = store_cli.store_refusal(settings.store_url)  # said in words, not a traceback
    if refusal is not None:
        print(f"fixwright: {refusal}", file=sys.stderr)
        return 1
    configure_logging(
        log_format=settings.log_format, level=settings.log_level, secrets=settings.secret_values()
    )
    app = create_app(settings, build_registry())
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=args.port if args.port is not None else settings.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # nothing reads the client's address
        server_header=False,  # no need to tell every caller what serves it
    )
    DrainingServer(config, app, settings.shutdown_grace_seconds).run()
    return 0


def show_jobs(args: argparse.Namespace) -> int:
    """Print recent jobs: what an operator checks first."""
    from app.store import JobState, open_store

    settings = load_or_explain()
    if settings is None:
        return 2

    async def listing() -> None:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            state = JobState(args.state) if args.state else None
            for job in await store.list_jobs(state, args.limit):
                print(
                    f"{job.id}  {job.state.value:<9}  {job.kind:<7}  {job.target:<40}  "
                    f"attempts={job.attempts}  {job.summary}"
                )
        finally:
            await store.close()

    asyncio.run(listing())
    return 0


def reconcile_deliveries(args: argparse.Namespace) -> int:
    """Ask GitHub to redeliver webhooks that never reached the service (see app/reconcile.py)."""
    del args
    from app.github_app import GitHubApp
    from app.reconcile import describe, reconcile
    from app.store import open_store

    settings = load_or_explain()
    if settings is None:
        return 2

    async def run() -> None:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            report = await reconcile(GitHubApp(settings).app_client(), store)
        finally:
            await store.close()
        for line in describe(report):
            print(line)

    asyncio.run(run())
    return 0


def prune_old_records(args: argparse.Namespace) -> int:
    """Delete what is older than FIXWRIGHT_RETENTION_DAYS now (the service does it hourly too)."""
    del args
    from app.retention import DAY_SECONDS, describe, mirrors_of, sweep, workspaces_of
    from app.store import open_store

    settings = load_or_explain()
    if settings is None:
        return 2
    if not settings.retention_days:
        print("FIXWRIGHT_RETENTION_DAYS is 0: everything is kept, nothing was removed")
        return 0

    async def run() -> None:
        store = open_store(settings.store_url, sync=settings.store_sync)
        try:
            age = settings.retention_days * DAY_SECONDS
            report = await sweep(
                store, workspaces_of(settings), age, time.time(), mirrors_of(settings)
            )
        finally:
            await store.close()
        for line in describe(report, settings.retention_days):
            print(line)

    asyncio.run(run())
    return 0


def installed_version() -> str:
    """The installed package's version, as `pip show fixwright` reports it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fixwright")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixwright", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fixwright {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the web service and its workers")
    serve_parser.add_argument("--host", help="address to listen on (default FIXWRIGHT_HOST)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default FIXWRIGHT_PORT)")
    serve_parser.add_argument(
        "--role",
        choices=["all", "web", "worker"],
        help="web: intake and API only; worker: jobs only (default FIXWRIGHT_ROLE, else all)",
    )
    serve_parser.set_defaults(func=serve)

    jobs_parser = commands.add_parser("jobs", help="list recent jobs")
    jobs_parser.add_argument(
        "--state",
        choices=["queued", "running", "awaiting_approval", "succeeded", "failed", "cancelled"],
    )
    jobs_parser.add_argument("--limit", type=int, default=20)
    jobs_parser.set_defaults(func=show_jobs)

    reconcile_parser = commands.add_parser(
        "reconcile", help="ask GitHub to redeliver webhooks that never reached the service"
    )
    reconcile_parser.set_defaults(func=reconcile_deliveries)

    prune_parser = commands.add_parser(
        "prune",
        help="delete deliveries, finished jobs' payloads and logs, and leftover workspaces "
        "older than FIXWRIGHT_RETENTION_DAYS",
    )
    prune_parser.set_defaults(func=prune_old_records)

    sandbox_cli.register(commands)
    environment_cli.register(commands)
    audit_cli.register(commands)
    stats_cli.register(commands)
    schedules_cli.register(commands)
    approval_cli.register(commands)
    keys_cli.register(commands)
    secrets_cli.register(commands)
    doctor.register(commands)
    store_cli.register(commands)
    workers_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
