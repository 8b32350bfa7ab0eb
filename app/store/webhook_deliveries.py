"""Outgoing webhooks' table: one delivery per ended task, and each attempt to send it.

A delivery is `pending` until an attempt gets a 2xx (`delivered`) or it gives up (`failed`). A
sender claims a due delivery by moving its `next_attempt_at` to the end of its claim, so a
sender that dies mid-attempt lets it fall due again, after a restart or in another process.
Neither the task's webhook secret nor its URL's path is kept here: the secret is read from the
task's row at each attempt, and the list shows only where the webhook went (`target`, an origin).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.store.dialect import SQLITE, Db, Dialect

WEBHOOK_DELIVERIES_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL,
    claimed_by TEXT NOT NULL DEFAULT '',
    finished_at REAL,
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT NOT NULL DEFAULT '',
    response_excerpt TEXT NOT NULL DEFAULT '',
    next_attempt_at REAL,
    PRIMARY KEY (delivery_id, number)
);
-- The tasks with a webhook, by age: where `select_unqueued` looks for a missed one.
CREATE INDEX IF NOT EXISTS tasks_with_webhook ON tasks (created_at) WHERE webhook_url != '';
"""

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_COLUMNS = (
    "id, job_id, event, target, state, attempts, created_at, next_attempt_at, finished_at, outcome"
)
ATTEMPT_COLUMNS = "number, at, duration_ms, status_code, error, response_excerpt, next_attempt_at"
# Deliveries one retention step removes at most (see the store's other batches).
PRUNE_WEBHOOKS_BATCH = 250


@dataclass(frozen=True)
class WebhookAttempt:
    """One try at sending: when, how long it took, the receiver's status (None when no answer
    came) or the error in words, a short cleaned excerpt of its answer, and when the next try is
    (None: none will be)."""

    number: int
    at: float
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    response_excerpt: str = ""
    next_attempt_at: float | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    """A task's webhook: its event, where it goes (`target`, scheme, host and port), how far it
    got, and (when read for the list) its attempts, oldest first."""

    id: str
    job_id: str
    event: str
    target: str
    state: str = PENDING
    attempts: int = 0
    created_at: float = 0.0
    next_attempt_at: float | None = None
    finished_at: float | None = None
    outcome: str = ""
    tries: tuple[WebhookAttempt, ...] = field(default=())


def delivery_of(row: tuple[Any, ...], tries: tuple[WebhookAttempt, ...] = ()) -> WebhookDelivery:
    (delivery_id, job_id, event, target, state, attempts, created_at, next_attempt_at,
     finished_at, outcome) = row  # fmt: skip
    return WebhookDelivery(
        delivery_id,
        job_id,
        event,
        target,
        state,
        attempts,
        created_at,
        next_attempt_at,
        finished_at,
        outcome,
        tries,
    )


def insert_delivery(db: Db, delivery: WebhookDelivery) -> bool:
    """Queue a delivery, due at once; False when the task already has one (a task ends once)."""
    return bool(
        db.execute(
            "INSERT INTO webhook_deliveries (id, job_id, event, target, state, created_at,"
            " next_attempt_at) VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
            (
                delivery.id,
                delivery.job_id,
                delivery.event,
                delivery.target,
                delivery.created_at,
                delivery.created_at,
            ),
        ).rowcount
    )


def claim_due(db: Db, now: float, until: float, owner: str, limit: int) -> list[WebhookDelivery]:
    """Take the pending deliveries due at `now`, oldest first, until `until` (the claim's end).

    The outer conditions repeat the inner ones: on PostgreSQL a second node's update that waited
    for the first node's row lock re-checks only the outer ones on the row as committed, which
    the first claim has moved past `now`, so one delivery is never claimed twice.
    """
    rows = db.execute(
        f"UPDATE webhook_deliveries SET next_attempt_at = ?, claimed_by = ?"  # noqa: S608
        " WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending'"
        " AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)"
        " AND state = 'pending' AND next_attempt_at <= ?"
        f" RETURNING {DELIVERY_COLUMNS}",
        (until, owner, now, limit, now),
    ).fetchall()
    return sorted((delivery_of(row) for row in rows), key=lambda d: d.created_at)


def record_attempt(
    db: Db,
    delivery_id: str,
    owner: str,
    attempt: WebhookAttempt,
    state: str,
    outcome: str,
) -> bool:
    """Keep one attempt and move the delivery on: due again at the attempt's `next_attempt_at`
    (still pending), or ended (`state` delivered or failed, with the outcome in words). False,
    recording nothing, when this sender no longer holds the claim."""
    finished_at = None if state == PENDING else attempt.at
    moved = db.execute(
        "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?,"
        " finished_at = ?, outcome = ?, claimed_by = ''"
        " WHERE id = ? AND claimed_by = ? AND state = 'pending'",
        (
            state,
            attempt.number,
            attempt.next_attempt_at,
            finished_at,
            outcome,
            delivery_id,
            owner,
        ),
    ).rowcount
    if not moved:
        return False
    db.execute(
        f"INSERT INTO webhook_attempts (delivery_id, {ATTEMPT_COLUMNS})"  # noqa: S608
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            delivery_id,
            attempt.number,
            attempt.at,
            attempt.duration_ms,
            attempt.status_code,
            attempt.error,
            attempt.response_excerpt,
            attempt.next_attempt_at,
        ),
    )
    return True


def select_deliveries(db: Db, job_id: str) -> list[WebhookDelivery]:
    """A task's deliveries with their attempts, oldest first."""
    rows = db.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE job_id = ?"  # noqa: S608
        " ORDER BY created_at",
        (job_id,),
    ).fetchall()
    deliveries = []
    for row in rows:
        tries = db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = ?"  # noqa: S608
            " ORDER BY number",
            (row[0],),
        ).fetchall()
        deliveries.append(delivery_of(row, tuple(WebhookAttempt(*t) for t in tries)))
    return deliveries


def select_unqueued(
    db: Db, finished_since: float, created_since: float, limit: int, dialect: Dialect = SQLITE
) -> list[str]:
    """Tasks with a webhook that ended since `finished_since` (created since `created_since`)
    and have no delivery: the service stopped between their end and the queuing."""
    rows = db.execute(
        f"SELECT jobs.id FROM tasks {dialect.indexed_by('tasks_with_webhook')}"  # noqa: S608
        " JOIN jobs ON jobs.id = tasks.job_id"
        " WHERE tasks.webhook_url != '' AND tasks.created_at >= ?"
        " AND jobs.state IN ('succeeded', 'failed', 'cancelled') AND jobs.finished_at >= ?"
        " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS w WHERE w.job_id = jobs.id)"
        " ORDER BY jobs.finished_at LIMIT ?",
        (created_since, finished_since, limit),
    ).fetchall()
    return [row[0] for row in rows]


def prune_webhook_deliveries(db: Db, before: float) -> tuple[int, bool]:
    """Delete ended deliveries (and their attempts) created before `before`; (how many, whether
    more may be). A pending one stays until it ends."""
    ids = [
        row[0]
        for row in db.execute(
            "SELECT id FROM webhook_deliveries WHERE state != 'pending' AND created_at < ? LIMIT ?",
            (before, PRUNE_WEBHOOKS_BATCH),
        )
    ]
    if ids:
        marks = ", ".join("?" * len(ids))
        db.execute(f"DELETE FROM webhook_attempts WHERE delivery_id IN ({marks})", ids)  # noqa: S608
        db.execute(f"DELETE FROM webhook_deliveries WHERE id IN ({marks})", ids)  # noqa: S608
    return len(ids), len(ids) == PRUNE_WEBHOOKS_BATCH
