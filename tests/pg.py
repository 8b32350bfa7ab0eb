"""PostgreSQL for the tests: a fresh database per test on the shared server, a store on any
engine's URL, and a private server a test may stop and start."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from app.store.postgres import PostgresStore
from app.store.sql import SqlStore
from app.store.sqlite import SQLiteStore, sqlite_path

# The server tests/setup.sh makes sure of (trust authentication for local TCP connections).
SERVER_URL = os.environ.get("FIXWRIGHT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The private server runs as this user: PostgreSQL refuses to run as root.
PG_USER = "postgres"


def database_url(name: str, server: str = SERVER_URL) -> str:
    return f"{server}/{name}"


def create_database(server: str = SERVER_URL) -> str:
    name = f"fixwright_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url("postgres", server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str, server: str = SERVER_URL) -> None:
    with psycopg.connect(database_url("postgres", server), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(server: str = SERVER_URL) -> Iterator[str]:
    """The URL of a new empty database, dropped afterwards."""
    name = create_database(server)
    try:
        yield database_url(name, server)
    finally:
        drop_database(name, server)


def open_test_store(
    url: str, *, max_attempts: int = 2, clock: Callable[[], float] = time.time
) -> SqlStore:
    """A store on either engine with the test's clock (open_store takes none)."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(sqlite_path(url), max_attempts=max_attempts, clock=clock)
    return PostgresStore(url, max_attempts=max_attempts, clock=clock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateServer:
    """A PostgreSQL server of the test's own, in a temporary directory, that it may stop."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fixwright-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        shutil.chown(self.root, PG_USER)
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        )

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", PG_USER, "--", *command],
            check=True,
            capture_output=True,
            cwd=self.root,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self.root / "log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"
        )

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
