"""The audit trail's table: one row per decision, appended and never changed (only the retention
sweep removes rows older than the store's retention)."""

from __future__ import annotations

from typing import Any

from app.store.dialect import Db
from app.store.model import AuditEntry, AuditQuery, CancelScope

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    installation_id INTEGER,
    repository TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
"""
# The action of a job's cancellation (`app.audit.Action.JOB_CANCELLED`), written here for the
# cancellations a delivery makes in the store's own transaction.
JOB_CANCELLED = "job.cancelled"
# The actor of a decision no person made.
SERVICE_ACTOR = "fixwright"
# Rows one retention step removes at most (see PRUNE_DELIVERIES_BATCH).
PRUNE_AUDIT_BATCH = 500


def insert_audit(db: Db, entry: AuditEntry, at: float) -> None:
    db.execute(
        "INSERT INTO audit (at, action, actor, installation_id, repository, subject, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            at,
            entry.action,
            entry.actor,
            entry.installation_id,
            entry.repository,
            entry.subject,
            entry.detail,
        ),
    )


def record_cancels(db: Db, where: str, args: list[Any], scope: CancelScope, at: float) -> None:
    """One entry for each job a delivery's cancellation stops (`where` selects them from
    `jobs`), in the transaction that stops them: the trail and the jobs never disagree."""
    sql = "INSERT INTO audit (at, action, actor, installation_id, repository, subject, detail)"
    sql += " SELECT ?, ?, ?, installation_id, repository, id, target || ': ' || ? FROM jobs"
    sql += f" WHERE {where} ORDER BY created_at"
    db.execute(sql, (at, JOB_CANCELLED, scope.actor or SERVICE_ACTOR, scope.reason, *args))


def select_audit(db: Db, query: AuditQuery) -> list[AuditEntry]:
    """The newest `query.limit` entries that match, oldest first (an empty filter matches all)."""
    rows = db.execute(
        "SELECT at, action, actor, installation_id, repository, subject, detail FROM audit"
        " WHERE at >= ? AND (? = '' OR repository = ?) AND (? = '' OR actor = ?)"
        " ORDER BY seq DESC LIMIT ?",
        (
            query.since,
            query.repository,
            query.repository,
            query.actor,
            query.actor,
            query.limit,
        ),
    ).fetchall()
    return [
        AuditEntry(
            at=at,
            action=action,
            actor=actor,
            installation_id=installation_id,
            repository=repository,
            subject=subject,
            detail=detail,
        )
        for at, action, actor, installation_id, repository, subject, detail in reversed(rows)
    ]


def prune_audit(db: Db, before: float) -> tuple[int, bool]:
    """Delete the oldest entries made before `before`; (how many, whether more may be)."""
    removed = db.execute(
        "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE at < ? ORDER BY seq LIMIT ?)",
        (before, PRUNE_AUDIT_BATCH),
    ).rowcount
    return removed, removed == PRUNE_AUDIT_BATCH
