"""The receivers under test: how to install, start (pinned to one core) and stop each of them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.intake.payloads import BENCH_DIR, SignedDelivery

PEERS = BENCH_DIR / "peers"
WEBHOOK_PATH = "/webhooks/github"
PROBOT_PATH = "/api/github/webhooks"  # Probot's default


def base_environment() -> dict[str, str]:
    """What every receiver inherits: no FIXWRIGHT_* or other settings from the caller."""
    return {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "PYTHONPATH")
        if name in os.environ
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Receiver:
    """A webhook receiver started as its own process on `core`, listening on a fresh port."""

    name: str
    command: list[str]
    env: dict[str, str]
    path: str
    log_path: Path
    cwd: Path = BENCH_DIR
    port: int = field(default_factory=free_port)
    # Reads, once the receiver stopped, how many deliveries it stored (None: it stores nothing).
    stored_count: Callable[[], int] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self, core: int | str, nice: int = 0) -> None:
        """Start pinned to `core` (a taskset list: "0,1" leaves it free to move).

        A negative `nice` (needs root) puts it ahead of other work on the machine, so that what
        is measured is the receiver rather than whatever else shares its core.
        """
        env = {**self.env, "PORT": str(self.port), "FIXWRIGHT_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["nice", "-n", str(nice), "taskset", "-c", str(core), *self.command],
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def statuses_for(self, deliveries: list[SignedDelivery]) -> list[int]:
        """Send every delivery of the mix once; the status codes it answered."""
        statuses = []
        with httpx.Client(timeout=10) as client:
            for delivery in deliveries:
                response = client.post(
                    self.url,
                    content=delivery.body,
                    headers={
                        "Content-Type": "application/json",
                        "X-GitHub-Event": delivery.event,
                        "X-GitHub-Delivery": str(uuid.uuid4()),
                        "X-Hub-Signature-256": delivery.signature,
                    },
                )
                statuses.append(response.status_code)
        return statuses


def fixwright(
    scratch: Path,
    secret: str,
    private_key: str,
    python: str,
    store_url: str | None = None,
    name: str = "fixwright",
) -> Receiver:
    """`fixwright serve` with a fresh store (SQLite in `scratch` unless `store_url` names an
    empty PostgreSQL database), no workers, and otherwise real settings."""
    store = scratch / f"{name}-store" / "fixwright.db"
    env = {
        **base_environment(),
        "FIXWRIGHT_APP_ID": "4242",
        "FIXWRIGHT_PRIVATE_KEY": private_key,
        "FIXWRIGHT_WEBHOOK_SECRET": secret,
        "FIXWRIGHT_STORE_URL": store_url or f"sqlite:///{store}",
        "FIXWRIGHT_WORKERS": "0",
        "FIXWRIGHT_LOG_FORMAT": "json",
        "FIXWRIGHT_HOST": "127.0.0.1",
    }

    def stored() -> int:
        if store_url is not None:
            return postgres_count(store_url)
        with sqlite3.connect(store) as db:
            return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])

    return Receiver(
        name=name,
        command=[python, "-m", "app.cli", "serve"],
        env=env,
        path=WEBHOOK_PATH,
        log_path=scratch / f"{name}.log",
        cwd=scratch,  # away from any .env of the checkout
        stored_count=stored,
    )


def postgres_count(url: str) -> int:
    import psycopg  # only runs that measure PostgreSQL need the driver

    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*) FROM deliveries").fetchone()
        return int(row[0]) if row else 0


@contextlib.contextmanager
def fresh_postgres_database(server: str) -> Iterator[str]:
    """The URL of a new, empty database on `server` (postgresql://user@host:port), dropped
    afterwards with whatever connections are left on it."""
    import psycopg

    name = f"fixwright_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def starlette(scratch: Path, secret: str, python: str) -> Receiver:
    return Receiver(
        name="starlette",
        command=[python, "-m", "bench.intake.peers.starlette_receiver"],
        env={**base_environment(), "WEBHOOK_SECRET": secret},
        path=WEBHOOK_PATH,
        log_path=scratch / "starlette.log",
        cwd=BENCH_DIR.parent.parent,
    )


def probot(scratch: Path, secret: str, private_key: str) -> Receiver:
    env = {
        **base_environment(),
        "APP_ID": "4242",
        "PRIVATE_KEY": private_key,
        "WEBHOOK_SECRET": secret,
        "HOST": "127.0.0.1",
        "NODE_ENV": "production",
    }
    return Receiver(
        name="probot",
        command=["node", "node_modules/probot/bin/probot.js", "run", "./app.js"],
        env=env,
        path=PROBOT_PATH,
        log_path=scratch / "probot.log",
        cwd=PEERS / "probot",
    )


def octokit(scratch: Path, secret: str) -> Receiver:
    return Receiver(
        name="octokit",
        command=["node", "server.js"],
        env={**base_environment(), "WEBHOOK_SECRET": secret, "HOST": "127.0.0.1"},
        path=WEBHOOK_PATH,
        log_path=scratch / "octokit.log",
        cwd=PEERS / "octokit",
    )


def install_node_peers() -> None:
    """`npm install` the pinned peers into their git-ignored node_modules folders (once)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: install Debian's `npm` package")
    for folder in (PEERS / "probot", PEERS / "octokit"):
        if (folder / "node_modules").is_dir():
            continue
        subprocess.run(
            [npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--silent"],
            cwd=folder,
            check=True,
        )


def default_python() -> str:
    return sys.executable
