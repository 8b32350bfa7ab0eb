"""The store's versioned schema on both engines: a fresh store is brought to the newest
version, an old SQLite file without versions is recognised and brought up, processes starting
together apply each migration once, a schema newer than the code is refused, and `fixwright
migrate` applies and reports."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from app.store import Delivery, NewJob, migrate_store, open_store
from app.store.dialect import SQLITE
from app.store.migrations import MIGRATIONS, SchemaTooNew, initial_schema, latest
from app.store.sqlite import sqlite_path
from tests.fixtures.service import ServiceProcess
from tests.pg import fresh_database


def versions(url: str) -> list[int]:
    """The versions recorded in the store's schema_version table, in order."""
    query = "SELECT version FROM schema_version ORDER BY version"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(url)) as db:
            return [row[0] for row in db.execute(query)]
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute(query)]


def record_version(url: str, version: int) -> None:
    """What a newer fixwright would leave behind."""
    sql = "INSERT INTO schema_version (version, summary, applied_at) VALUES ({0}, 'newer', 0)"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(url)) as db:
            db.execute(sql.format("?"), (version,))
        return
    with psycopg.connect(url) as connection:
        connection.execute(sql.format("%s"), (version,))


async def test_a_fresh_store_is_brought_to_the_newest_version_once(store_url: str) -> None:
    """Every migration is applied in order and recorded; opening again applies nothing."""
    store = open_store(store_url)
    await store.record_delivery(Delivery("d-1", "issues"), [])
    await store.close()
    assert versions(store_url) == [m.version for m in MIGRATIONS] == list(range(1, latest() + 1))
    assert migrate_store(store_url) == (latest(), latest())
    again = open_store(store_url)
    assert await again.has_delivery("d-1")
    await again.close()
    assert versions(store_url) == list(range(1, latest() + 1))


async def test_a_schema_newer_than_the_code_is_refused_naming_both_versions(
    store_url: str,
) -> None:
    """A store a newer fixwright migrated is not opened, nor migrated, by this one."""
    assert migrate_store(store_url) == (0, latest())
    record_version(store_url, latest() + 1)
    with pytest.raises(SchemaTooNew) as refused:
        open_store(store_url)
    assert f"version {latest() + 1}" in str(refused.value)
    assert f"version {latest()})" in str(refused.value)
    with pytest.raises(SchemaTooNew):
        migrate_store(store_url)
    assert versions(store_url)[-1] == latest() + 1  # nothing was changed


def test_processes_starting_together_apply_each_migration_once(store_url: str) -> None:
    """Four migrations at once on an empty store: one applies them, the others wait for its
    lock and find nothing left to do."""
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: migrate_store(store_url), range(4)))
    assert sorted(outcomes) == [(0, latest())] + [(latest(), latest())] * 3
    assert versions(store_url) == list(range(1, latest() + 1))


async def test_a_sqlite_file_made_before_versions_is_recognised_and_brought_up(
    tmp_path: Path,
) -> None:
    """A file with the tables of the store before versions, and rows in them, but no
    schema_version table, is taken as version 0: its rows are kept and every version recorded."""
    path = tmp_path / "fixwright.db"
    db = sqlite3.connect(path, isolation_level=None)
    initial_schema(db, SQLITE)  # what the store created at start before versions
    db.execute(
        "INSERT INTO deliveries (id, event, outcome, received_at) VALUES ('old', 'issues', 'queued', 1)"
    )
    db.close()
    url = f"sqlite:///{path}"
    store = open_store(url)
    assert await store.has_delivery("old")
    ids = await store.record_delivery(
        Delivery("new", "issues"),
        [NewJob("fix", "o/r", "o/r#1", 7, "octocat", {}, number=1)],
    )
    assert ids is not None
    await store.close()
    assert versions(url) == list(range(1, latest() + 1))


def migrate_command(url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "FIXWRIGHT_STORE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_fixwright_migrate_applies_and_reports_the_versions(store_url: str) -> None:
    """The command says the version before and after, then that nothing is left; a store
    newer than it is refused with exit 1."""
    engine = store_url.split(":")[0]
    first = migrate_command(store_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"the {engine} store's schema went from version 0 to {latest()}"
    )
    second = migrate_command(store_url)
    assert second.stdout.strip() == (
        f"the {engine} store's schema is at version {latest()}: nothing to apply"
    )
    record_version(store_url, latest() + 1)
    refused = migrate_command(store_url)
    assert refused.returncode == 1
    assert f"version {latest() + 1}, newer than this fixwright" in refused.stderr


def test_fixwright_migrate_refuses_a_url_of_no_known_engine() -> None:
    """Exit 2 and the setting's name, without echoing the URL (it may hold a password)."""
    refused = migrate_command("mysql://fixwright:secret@db/fixwright")
    assert refused.returncode == 2
    assert "FIXWRIGHT_STORE_URL must be sqlite:///PATH" in refused.stderr
    assert "secret" not in refused.stderr


def test_fixwright_migrate_says_when_postgresql_cannot_be_reached() -> None:
    """Exit 1 with the reason, nothing applied."""
    with fresh_database() as url:
        unreachable = url.replace(":5432/", ":1/")
        refused = migrate_command(unreachable)
    assert refused.returncode == 1
    assert "could not be reached" in refused.stderr


def test_fixwright_serve_refuses_a_store_newer_than_it(
    service_process: ServiceProcess, store_url: str
) -> None:
    """The service does not start on a schema it does not know, and says which versions."""
    migrate_store(store_url)
    record_version(store_url, latest() + 1)
    with pytest.raises(AssertionError, match="exited early") as exited:
        service_process.start(FIXWRIGHT_STORE_URL=store_url)
    assert f"version {latest() + 1}, newer than this fixwright knows" in str(exited.value)
    assert f"(version {latest()})" in str(exited.value)
    assert "Traceback" not in str(exited.value)
