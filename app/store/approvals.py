"""Approvals: jobs that wait for a maintainer's word, and the single-use tokens that give it.

A job whose requester is below the approval policy's role leaves its worker for the state
`awaiting_approval` (no lease, no attempt counted) with a row here; `/approve` puts it back in the
queue, `/deny` or the expiry ends it. A decision is made once: the row's `decision` is set in the
same transaction that moves the job, and a token is used up in that transaction too.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.store.dialect import Db
from app.store.model import Approval, ApprovalToken, dumps

APPROVALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    repository TEXT NOT NULL,
    target TEXT NOT NULL,
    number INTEGER,
    installation_id INTEGER,
    requested_by TEXT NOT NULL,
    requested_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    decision TEXT NOT NULL DEFAULT '',
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at REAL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (expires_at) WHERE decision = '';
CREATE TABLE IF NOT EXISTS approval_tokens (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    decision TEXT NOT NULL DEFAULT ''
);
"""

APPROVED, DENIED, EXPIRED, WITHDRAWN = "approved", "denied", "expired", "withdrawn"
DECISIONS = (APPROVED, DENIED)
# Requests one expiry step ends at most (the sweep runs again within half a lease).
EXPIRE_BATCH = 200

APPROVAL_COLUMNS = (
    "job_id, kind, repository, target, number, installation_id, requested_by, requested_at,"
    " expires_at, decision, decided_by, decided_at, reason"
)
TOKEN_COLUMNS = "id, job_id, secret_sha256, created_at, expires_at, used_at, decision"  # noqa: S105

# A request whose job stopped waiting some other way (superseded by a maintainer's newer
# trigger, cancelled, the App uninstalled) is withdrawn, so nothing can approve it any more.
WITHDRAW_STALE = """
UPDATE approvals SET decision = 'withdrawn', decided_at = ?
WHERE decision = '' AND job_id IN (
    SELECT id FROM jobs WHERE id = approvals.job_id AND state != 'awaiting_approval'
)
"""

# The notice job for the thread of a request decided with a token (no GitHub client decided it):
# its decision, who and why under "approval_decided" in its payload (built by `queue_notice`).
QUEUE_DECISION_NOTICE = """
INSERT INTO jobs (id, kind, repository, target, number, installation_id, requested_by,
                  delivery_id, payload, state, max_attempts, created_at, updated_at)
SELECT ?, ?, repository, target || '/approval', number, installation_id, requested_by,
       delivery_id, ?, 'queued', max_attempts, ?, ?
FROM jobs WHERE id = ? AND number IS NOT NULL
"""

# The notice job for the thread of an expired request: same target and delivery, the expired
# job's id and kind under "approval_expired" in its payload (the store has no GitHub client).
# The payload's delivery is left out: the notice reads only what is named there.
QUEUE_EXPIRY_NOTICE = QUEUE_DECISION_NOTICE

# A job's running attempt given back (never below none); portable, unlike SQLite's scalar MAX.
ATTEMPT_GIVEN_BACK = "CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"


def queue_notice(db: Db, job_id: str, kind: str, payload: dict[str, Any], now: float) -> None:
    """Queue a notice job of `kind` for the thread of `job_id`, with `payload` (JSON built here,
    as the engines' JSON functions differ)."""
    db.execute(QUEUE_DECISION_NOTICE, (uuid.uuid4().hex, kind, dumps(payload), now, now, job_id))


def approval_of(row: tuple[Any, ...]) -> Approval:
    return Approval(*row)


def token_of(row: tuple[Any, ...]) -> ApprovalToken:
    token_id, job_id, secret, created_at, expires_at, used_at, decision = row
    return ApprovalToken(token_id, job_id, bytes(secret), created_at, expires_at, used_at, decision)


def select_approval(db: Db, job_id: str) -> Approval | None:
    row = db.execute(
        f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE job_id = ?",  # noqa: S608 (constant)
        (job_id,),
    ).fetchone()
    return approval_of(row) if row else None


def await_approval(
    db: Db, job_id: str, worker_id: str, summary: str, expires_at: float, now: float
) -> bool:
    """The running job leaves its worker to wait: no lease, the attempt given back, and no start
    time (its requester's hourly quota counts it once it really starts)."""
    moved = db.execute(
        "UPDATE jobs SET state = 'awaiting_approval', summary = ?, lease_owner = NULL,"  # noqa: S608
        f" lease_expires_at = NULL, attempts = {ATTEMPT_GIVEN_BACK}, started_at = NULL,"
        " updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
        (summary, now, job_id, worker_id),
    ).rowcount
    if not moved:
        return False
    # A job asked again after an earlier decision starts a new request in the same row.
    db.execute(
        f"INSERT INTO approvals ({APPROVAL_COLUMNS})"  # noqa: S608 (constant)
        " SELECT id, kind, repository, target, number, installation_id, requested_by, ?, ?,"
        " '', '', NULL, '' FROM jobs WHERE id = ?"
        " ON CONFLICT (job_id) DO UPDATE SET requested_at = excluded.requested_at,"
        " expires_at = excluded.expires_at, decision = '', decided_by = '', decided_at = NULL,"
        " reason = ''",
        (now, expires_at, job_id),
    )
    return True


def select_pending(
    db: Db, target: str | None, limit: int, expiring_before: float | None = None
) -> list[Approval]:
    """Requests still waiting, oldest first (on one target, or everywhere; only those that
    expire before a time, if given)."""
    args: list[Any] = [target] if target is not None else []
    where = "AND a.target = ?" if target is not None else ""
    if expiring_before is not None:
        where, args = f"{where} AND a.expires_at < ?", [*args, expiring_before]
    columns = ", ".join(f"a.{column.strip()}" for column in APPROVAL_COLUMNS.split(","))
    rows = db.execute(
        f"SELECT {columns} FROM approvals AS a JOIN jobs ON jobs.id = a.job_id"  # noqa: S608
        f" WHERE a.decision = '' AND jobs.state = 'awaiting_approval' {where}"
        " ORDER BY a.requested_at LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [approval_of(row) for row in rows]


def decide(
    db: Db,
    job_id: str,
    decision: str,
    actor: str,
    reason: str,
    token_id: str,
    now: float,
    notice_kind: str | None = None,
) -> tuple[Approval | None, bool]:
    """Approve or deny a pending request once; a token named is used up with it, and with a
    `notice_kind` a job of that kind is queued to tell the thread."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    if token_id:
        used = db.execute(
            "UPDATE approval_tokens SET used_at = ?, decision = ?"
            " WHERE id = ? AND job_id = ? AND used_at IS NULL",
            (now, decision, token_id, job_id),
        ).rowcount
        if not used:
            return select_approval(db, job_id), False
    db.execute(WITHDRAW_STALE, (now,))
    pending = select_approval(db, job_id)
    if pending is None or pending.decision:
        if token_id and pending is not None:  # the token is spent on the decision already made
            db.execute(
                "UPDATE approval_tokens SET decision = ? WHERE id = ?",
                (pending.decision, token_id),
            )
        return pending, False
    if decision == APPROVED:
        db.execute(
            "UPDATE jobs SET state = 'queued', updated_at = ? WHERE id = ?"
            " AND state = 'awaiting_approval'",
            (now, job_id),
        )
    else:
        summary = f"denied by {actor}" + (f": {reason}" if reason else "")
        db.execute(
            "UPDATE jobs SET state = 'cancelled', summary = ?, finished_at = ?, updated_at = ?"
            " WHERE id = ? AND state = 'awaiting_approval'",
            (summary, now, now, job_id),
        )
    db.execute(
        "UPDATE approvals SET decision = ?, decided_by = ?, decided_at = ?, reason = ?"
        " WHERE job_id = ?",
        (decision, actor, now, reason, job_id),
    )
    decided = select_approval(db, job_id)
    if notice_kind is not None and decided is not None:
        payload = {
            "job_id": job_id,
            "kind": decided.kind,
            "decision": decided.decision,
            "decided_by": decided.decided_by,
            "reason": decided.reason,
        }
        queue_notice(db, job_id, notice_kind, {"approval_decided": payload}, now)
    return decided, True


def expire(db: Db, before: float, notice_kind: str | None, now: float) -> list[Approval]:
    """End the pending requests whose time ran out before `before`, each job cancelled and,
    with a `notice_kind`, a notice queued for its thread."""
    db.execute(WITHDRAW_STALE, (now,))
    due = select_pending(db, None, EXPIRE_BATCH, expiring_before=before)
    for approval in due:
        db.execute(
            "UPDATE jobs SET state = 'cancelled', summary = 'not approved in time',"
            " finished_at = ?, updated_at = ? WHERE id = ? AND state = 'awaiting_approval'",
            (now, now, approval.job_id),
        )
        db.execute(
            "UPDATE approvals SET decision = 'expired', decided_at = ? WHERE job_id = ?",
            (now, approval.job_id),
        )
        if notice_kind is not None:
            payload = {"approval_expired": {"job_id": approval.job_id, "kind": approval.kind}}
            queue_notice(db, approval.job_id, notice_kind, payload, now)
    return due


def insert_token(db: Db, token: ApprovalToken) -> bool:
    """Keep a token for a job that waits for approval now (none other)."""
    if not select_pending_job(db, token.job_id):
        return False
    db.execute(
        f"INSERT INTO approval_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, '')",  # noqa: S608
        (token.id, token.job_id, token.secret_sha256, token.created_at, token.expires_at),
    )
    return True


def select_pending_job(db: Db, job_id: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM approvals AS a JOIN jobs ON jobs.id = a.job_id"
        " WHERE a.job_id = ? AND a.decision = '' AND jobs.state = 'awaiting_approval'",
        (job_id,),
    ).fetchone()
    return row is not None


def select_token(db: Db, token_id: str) -> ApprovalToken | None:
    row = db.execute(
        f"SELECT {TOKEN_COLUMNS} FROM approval_tokens WHERE id = ?",  # noqa: S608 (constant)
        (token_id,),
    ).fetchone()
    return token_of(row) if row else None


def prune_approvals(db: Db, before: float) -> int:
    """Decided requests and tokens past their expiry, older than `before` (a waiting request
    is never removed: it expires first, with its comment)."""
    db.execute("DELETE FROM approval_tokens WHERE expires_at < ?", (before,))
    return db.execute(
        "DELETE FROM approvals WHERE decision != '' AND decided_at < ?", (before,)
    ).rowcount
