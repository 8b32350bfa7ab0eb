"""The store's schema, as numbered migrations applied in order, on SQLite and on PostgreSQL.

Each store applies what its database lacks when it opens (`fixwright serve`, every command),
and `fixwright migrate` does it alone. The applied versions are rows of `schema_version`; all
pending migrations run in one transaction, under a lock (SQLite's writer lock, a PostgreSQL
advisory lock), so two processes starting at once apply each migration once, and a failure
leaves the schema as it was. A database whose schema is newer than this code knows is refused
(`SchemaTooNew`): an older fixwright would misread it.

Migration 1 is the schema of the store before versions existed. A SQLite file made then has no
`schema_version` table: it is taken as version 0 and migration 1 brings it up (its statements
are `IF NOT EXISTS`, and `add_columns` adds only the columns it lacks, e.g. the deliveries'
`body_sha256` of older files).

Adding a table or a column (other modules do this too): write the schema constant in your own
module with SQLite's types (TEXT, INTEGER, REAL, BLOB; `Dialect.ddl` turns them into BIGINT,
DOUBLE PRECISION and BYTEA on PostgreSQL), then append one entry to MIGRATIONS, the next
number, e.g.

    Migration(2, "workers' heartbeats", script(WORKERS_SCHEMA)),

or, where the engines differ, a function `apply(db, dialect)` that asks `dialect`. Never edit
or renumber a migration that has been committed: databases out there have applied it. Keep
each statement runnable on both engines; `CREATE ... IF NOT EXISTS` keeps a migration safe to
apply over a table a previous build created without a version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.store.api_keys import API_KEYS_SCHEMA
from app.store.approvals import APPROVALS_SCHEMA
from app.store.audit import AUDIT_SCHEMA
from app.store.budget import HOLDS_SCHEMA
from app.store.conversations import CONVERSATIONS_SCHEMA
from app.store.dialect import Db, Dialect
from app.store.outcomes import OUTCOMES_SCHEMA
from app.store.schedules import SCHEDULES_SCHEMA
from app.store.sql import ADDED_COLUMNS, ADDED_INDEXES, NOTICES_SCHEMA, SCHEMA
from app.store.tasks import TASKS_SCHEMA
from app.store.webhook_deliveries import WEBHOOK_DELIVERIES_SCHEMA
from app.store.workers import WORKERS_SCHEMA

VERSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    summary TEXT NOT NULL,
    applied_at REAL NOT NULL
)
"""

# The advisory lock's key on PostgreSQL (see Dialect.lock).
LOCK_KEY = "schema_version"


class SchemaTooNew(Exception):
    """The database was migrated by a newer fixwright than this one."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"the job store's schema is version {found}, newer than this fixwright knows"
            f" (version {known}): run the newer fixwright, or restore a backup made for this one"
        )
        self.found = found
        self.known = known


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    apply: Callable[[Db, Dialect], None]


def script(*schemas: str) -> Callable[[Db, Dialect], None]:
    """A migration that runs schema texts (written with SQLite's types) statement by statement."""

    def apply(db: Db, dialect: Dialect) -> None:
        for schema in schemas:
            for statement in dialect.statements(schema):
                db.execute(statement)

    return apply


def add_columns(db: Db, dialect: Dialect, columns: tuple[tuple[str, str, str], ...]) -> None:
    """Add each (table, column, type) the table lacks."""
    for table, column, kind in columns:
        if dialect.is_postgresql:
            db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {dialect.ddl(kind)}")
            continue
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def initial_schema(db: Db, dialect: Dialect) -> None:
    """The store as it was before versions: every table, the columns added since, the indexes."""
    script(
        SCHEMA,
        NOTICES_SCHEMA,
        AUDIT_SCHEMA,
        APPROVALS_SCHEMA,
        CONVERSATIONS_SCHEMA,
        API_KEYS_SCHEMA,
        TASKS_SCHEMA,
        WEBHOOK_DELIVERIES_SCHEMA,
    )(db, dialect)
    add_columns(db, dialect, ADDED_COLUMNS)
    if dialect.is_postgresql:
        # The retention sweep takes deliveries in arrival order by SQLite's rowid; PostgreSQL
        # has none, so a column of that name numbers the rows (prune_deliveries is one SQL).
        db.execute(
            "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS rowid BIGINT"
            " GENERATED ALWAYS AS IDENTITY"
        )
        db.execute("CREATE UNIQUE INDEX IF NOT EXISTS deliveries_by_rowid ON deliveries (rowid)")
    for statement in ADDED_INDEXES:
        db.execute(statement)


MIGRATIONS: list[Migration] = [
    Migration(1, "the store before schema versions", initial_schema),
    Migration(2, "worker processes' heartbeats", script(WORKERS_SCHEMA)),
    Migration(3, "pull requests fixwright opened and their reviews", script(OUTCOMES_SCHEMA)),
    Migration(4, "quota places and token reservations across nodes", script(HOLDS_SCHEMA)),
    Migration(5, "schedules and the slots they fired or skipped", script(SCHEDULES_SCHEMA)),
]

# Numbered 1, 2, 3...: a gap or a repeat would skip or re-run a migration somewhere.
assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1)), "renumbered"


def latest() -> int:
    """The newest version this code knows."""
    return MIGRATIONS[-1].version


def current_version(db: Db) -> int:
    """The database's version (0: none applied, or a SQLite file made before versions)."""
    (version,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(version)


def apply_pending(
    db: Db, dialect: Dialect, clock: Callable[[], float] = time.time
) -> tuple[int, int]:
    """Bring the schema up, inside the caller's transaction; (version before, version after).

    Raises SchemaTooNew, changing nothing, when the database is ahead of this code.
    """
    dialect.lock(db, LOCK_KEY)  # SQLite's BEGIN IMMEDIATE already holds the writer's lock
    db.execute(dialect.ddl(VERSION_SCHEMA))
    before = current_version(db)
    if before > latest():
        raise SchemaTooNew(before, latest())
    for migration in MIGRATIONS:
        if migration.version > before:
            migration.apply(db, dialect)
            db.execute(
                "INSERT INTO schema_version (version, summary, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.summary, clock()),
            )
    return before, latest()
