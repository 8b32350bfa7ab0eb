"""The durable job store: deliveries, jobs with leases, and each job's event log."""

from __future__ import annotations

from app.store.model import (
    FINISHED_STATES,
    Approval,
    ApprovalToken,
    AuditEntry,
    AuditQuery,
    CancelScope,
    Conversation,
    Delivery,
    Job,
    JobEvent,
    JobState,
    NewJob,
    Round,
    Store,
    StoreUnavailable,
)
from app.store.tasks import Task, TaskCreated, TaskQuery
from app.store.webhook_deliveries import WebhookAttempt, WebhookDelivery

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    url: str, *, max_attempts: int = 2, sync: str = "normal", pool_size: int = 10
) -> Store:
    """The store engine named by the URL: sqlite:///PATH (the embedded default; `sync` is
    FIXWRIGHT_STORE_SYNC) or postgresql://... (shared by many nodes; `pool_size` connections
    each, FIXWRIGHT_STORE_POOL_SIZE). Either applies pending schema migrations first."""
    if url.startswith("sqlite:///"):
        from app.store.sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(sqlite_path(url), max_attempts=max_attempts, synchronous=sync)
    if url.startswith(POSTGRESQL_SCHEMES):
        from app.store.postgres import PostgresStore

        return PostgresStore(url, max_attempts=max_attempts, pool_size=pool_size)
    raise ValueError(
        f"unsupported store URL {url.split(':', 1)[0]}:// (use sqlite:///PATH or postgresql://...)"
    )


def migrate_store(url: str) -> tuple[int, int]:
    """Apply the store's pending schema migrations; (version before, version after). Raises
    StoreUnavailable, or SchemaTooNew for a schema newer than this code."""
    if url.startswith("sqlite:///"):
        import sqlite3

        from app.store.sqlite import migrate_sqlite, sqlite_path

        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            return migrate_sqlite(db)
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"the job store could not be migrated: {error}") from error
        finally:
            db.close()
    if url.startswith(POSTGRESQL_SCHEMES):
        from app.store.postgres import migrate_postgres

        return migrate_postgres(url)
    raise ValueError(f"unsupported store URL {url.split(':', 1)[0]}://")


__all__ = [
    "FINISHED_STATES",
    "Approval",
    "ApprovalToken",
    "AuditEntry",
    "AuditQuery",
    "CancelScope",
    "Conversation",
    "Delivery",
    "Job",
    "JobEvent",
    "JobState",
    "NewJob",
    "Round",
    "Store",
    "StoreUnavailable",
    "Task",
    "TaskCreated",
    "TaskQuery",
    "WebhookAttempt",
    "WebhookDelivery",
    "migrate_store",
    "open_store",
]
