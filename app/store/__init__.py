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


def open_store(url: str, *, max_attempts: int = 2, sync: str = "normal") -> Store:
    """The store engine named by the URL (sqlite:///PATH is the embedded default); `sync` is
    FIXWRIGHT_STORE_SYNC."""
    if url.startswith("sqlite:///"):
        from app.store.sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(sqlite_path(url), max_attempts=max_attempts, synchronous=sync)
    raise ValueError(f"unsupported store URL {url.split(':', 1)[0]}:// (use sqlite:///PATH)")


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
    "open_store",
]
