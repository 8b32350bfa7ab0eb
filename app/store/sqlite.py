"""The embedded job store: SQLite in WAL mode, one thread that runs every call and group-commits."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from app.store.api_keys import (
    API_KEYS_SCHEMA,
    ApiKeyRecord,
    insert_key,
    revoke_key,
    select_key,
    select_keys,
)
from app.store.approvals import (
    APPROVALS_SCHEMA,
    WITHDRAW_STALE,
    await_approval,
    decide,
    expire,
    insert_token,
    prune_approvals,
    select_approval,
    select_pending,
    select_token,
)
from app.store.audit import (
    AUDIT_SCHEMA,
    insert_audit,
    prune_audit,
    record_cancels,
    select_audit,
)
from app.store.conversations import (
    CONVERSATIONS_SCHEMA,
    prune_conversations,
    select_conversation,
    upsert_conversation,
)
from app.store.lane import WAL_LIMIT_BYTES, Checkpointer, Lane
from app.store.model import (
    Approval,
    ApprovalToken,
    AuditEntry,
    AuditQuery,
    CancelScope,
    Conversation,
    DailyUsage,
    Delivery,
    Job,
    JobEvent,
    JobState,
    NewJob,
    Pruned,
    QueueStats,
    QuotaCounts,
    dumps,
    loads,
)
from app.store.tasks import (
    TASKS_SCHEMA,
    Task,
    TaskCreated,
    TaskQuery,
    create_task,
    prune_tasks,
    select_by_idempotency_key,
    select_job_ids,
    select_task,
    update_task_outcome,
)
from app.store.webhook_deliveries import (
    WEBHOOK_DELIVERIES_SCHEMA,
    WebhookAttempt,
    WebhookDelivery,
    claim_due,
    insert_delivery,
    prune_webhook_deliveries,
    record_attempt,
    select_deliveries,
    select_unqueued,
)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    action TEXT NOT NULL DEFAULT '',
    installation_id INTEGER,
    repository TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    repository TEXT NOT NULL,
    target TEXT NOT NULL,
    number INTEGER,
    installation_id INTEGER,
    requested_by TEXT NOT NULL DEFAULT '',
    delivery_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    usage TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_target ON jobs (target, state);
CREATE INDEX IF NOT EXISTS jobs_by_requester ON jobs (requested_by, started_at);
CREATE TABLE IF NOT EXISTS markers (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS usage_daily (
    installation_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    jobs INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (installation_id, day)
);
"""

# The last notice (a refusal, a /help answer) each person got on each issue, so a stranger's
# repeated commands cannot spend the App's comment limits.
NOTICES_SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    repository TEXT NOT NULL,
    number INTEGER NOT NULL,
    person TEXT NOT NULL,
    kind TEXT NOT NULL,
    posted_at REAL NOT NULL,
    PRIMARY KEY (repository, number, person, kind)
);
"""

# What the first version of the tables lacks. `CREATE TABLE IF NOT EXISTS` adds no column to a
# database file made before, so `upgrade_schema` adds each column only where it is missing.
ADDED_COLUMNS = (("deliveries", "body_sha256", "BLOB"),)
ADDED_INDEXES = (
    # A replayed body is refused by this index. Deliveries that asked for nothing have no hash,
    # and no entry: the intake's common case costs the index nothing.
    "CREATE UNIQUE INDEX IF NOT EXISTS deliveries_by_body ON deliveries (body_sha256)"
    " WHERE body_sha256 IS NOT NULL",
    # Finished jobs whose payload and log the retention sweep has not removed yet.
    "CREATE INDEX IF NOT EXISTS jobs_to_prune ON jobs (finished_at) WHERE payload != '{}'",
)
# Rows a retention step removes at most: each step holds the event loop (the store runs on it),
# so a long backlog goes in short steps with deliveries served in between. A step took 2 to 5 ms
# (median) on a busy 2-core machine: 250 deliveries, or 10 jobs of 200 log entries each
# (`python -m bench.retention`).
PRUNE_DELIVERIES_BATCH = 250
PRUNE_JOBS_BATCH = 10

JOB_COLUMNS = (
    "id, kind, repository, target, number, installation_id, requested_by, delivery_id, payload,"
    " state, attempts, max_attempts, lease_owner, lease_expires_at, created_at, started_at,"
    " finished_at, summary, usage"
)

# A queued job with a newer queued job of the same target and kind waits: the newer trigger
# runs first, and supersedes it only once its requester passes the permission check.
SHADOWED = """EXISTS (
      SELECT 1 FROM jobs AS newer
      WHERE newer.target = {job}.target AND newer.kind = {job}.kind AND newer.state = 'queued'
        AND newer.created_at > {job}.created_at
  )"""

# The oldest queued job whose target (issue or PR) has nothing running and that no newer trigger
# of its kind shadows: jobs for one target run one at a time, in order.
NEXT_LEASABLE = f"""
SELECT {JOB_COLUMNS} FROM jobs AS candidate
WHERE state = 'queued'
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS busy WHERE busy.target = candidate.target AND busy.state = 'running'
  )
  AND NOT {SHADOWED.format(job="candidate")}
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS earlier
      WHERE earlier.target = candidate.target AND earlier.state = 'queued'
        AND earlier.created_at < candidate.created_at
        AND NOT {SHADOWED.format(job="earlier")}
  )
ORDER BY created_at
LIMIT 1
"""  # noqa: S608 (constant column lists and aliases, no input)


# A notice job for the thread of an interrupted job: same target and delivery, the failed job's
# id, kind and attempts under "interrupted" in its payload (the kind is the registry's
# `interruption_notice`).
QUEUE_INTERRUPTED_NOTICE = """
INSERT INTO jobs (id, kind, repository, target, number, installation_id, requested_by,
                  delivery_id, payload, state, max_attempts, created_at, updated_at)
SELECT ?, ?, repository, target, number, installation_id, requested_by, delivery_id,
       json_set(payload, '$.interrupted',
                json_object('job_id', id, 'kind', kind, 'attempts', attempts)),
       'queued', max_attempts, ?, ?
FROM jobs WHERE id = ? AND kind != ? AND number IS NOT NULL
"""


def upgrade_schema(db: sqlite3.Connection) -> None:
    """Add what ADDED_COLUMNS and ADDED_INDEXES name, in one transaction (two processes may
    open the same file at once)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for statement in ADDED_INDEXES:
            db.execute(statement)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def prune_deliveries(db: sqlite3.Connection, before: float) -> tuple[int, bool]:
    """Delete the oldest deliveries received before `before`; (how many, whether more may be).

    Rows are taken in rowid order, which is arrival order, and the step stops at the first
    younger one: no index on the time is needed, which would cost every delivery a write.
    """
    rows = db.execute(
        "SELECT rowid, received_at FROM deliveries ORDER BY rowid LIMIT ?",
        (PRUNE_DELIVERIES_BATCH,),
    ).fetchall()
    old = 0
    while old < len(rows) and rows[old][1] < before:
        old += 1
    if old:
        db.execute("DELETE FROM deliveries WHERE rowid <= ?", (rows[old - 1][0],))
    return old, old == PRUNE_DELIVERIES_BATCH


def prune_jobs(db: sqlite3.Connection, before: float) -> tuple[int, int]:
    """Empty the payloads and delete the logs of jobs finished before `before`; (jobs, events)."""
    ids = [
        row[0]
        for row in db.execute(
            # Named, as SQLite would pick the state index and read every finished job there is.
            "SELECT id FROM jobs INDEXED BY jobs_to_prune WHERE payload != '{}'"
            " AND finished_at < ? AND state IN ('succeeded', 'failed', 'cancelled') LIMIT ?",
            (before, PRUNE_JOBS_BATCH),
        )
    ]
    if not ids:
        return 0, 0
    marks = ", ".join("?" * len(ids))
    events = db.execute(f"DELETE FROM job_events WHERE job_id IN ({marks})", ids).rowcount  # noqa: S608
    db.execute(f"UPDATE jobs SET payload = '{{}}' WHERE id IN ({marks})", ids)  # noqa: S608
    return len(ids), events


def sqlite_path(url: str) -> Path:
    """The file behind sqlite:///relative/path or sqlite:////absolute/path."""
    return Path(url.removeprefix("sqlite:///"))


def row_to_job(row: tuple[Any, ...]) -> Job:
    (job_id, kind, repository, target, number, installation_id, requested_by, delivery_id,
     payload, state, attempts, max_attempts, lease_owner, lease_expires_at, created_at,
     started_at, finished_at, summary, usage) = row  # fmt: skip
    return Job(
        id=job_id,
        kind=kind,
        repository=repository,
        target=target,
        number=number,
        installation_id=installation_id,
        requested_by=requested_by,
        delivery_id=delivery_id,
        payload=loads(payload),
        state=JobState(state),
        attempts=attempts,
        max_attempts=max_attempts,
        lease_owner=lease_owner,
        lease_expires_at=lease_expires_at,
        created_at=created_at,
        started_at=started_at,
        finished_at=finished_at,
        summary=summary,
        usage=loads(usage),
    )


# normal (the default), in WAL mode, writes each commit to the log before the call returns, so a
# killed or crashed process loses nothing it answered; the log reaches the disk at checkpoints, so
# a power cut or kernel crash may lose the last commits. full syncs every (grouped) commit and
# survives a power cut too, but the sync waits on the event loop: about 0.7x the intake's rate and
# p99s of tens to hundreds of milliseconds at 32 connections (docs/benchmarks.md).
SYNCHRONOUS_LEVELS = {"normal": 1, "full": 2}


class SQLiteStore:
    """The Store on one SQLite file, its calls grouped into shared commits on the event loop.

    Concurrent writes share one commit instead of queueing for a lock each (see app/store/lane.py).
    Every call takes effect in the order it was made (reads too: a read never overtakes an
    earlier write, which callers such as the orphan sweep after a reclaim rely on).
    """

    def __init__(
        self,
        path: Path,
        *,
        max_attempts: int = 2,
        clock: Callable[[], float] = time.time,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
        synchronous: str = "normal",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={SYNCHRONOUS_LEVELS[synchronous]}")
        # As SQLite applied it, for the start-up log line.
        level = db.execute("PRAGMA synchronous").fetchone()[0]
        self.synchronous = {v: k for k, v in SYNCHRONOUS_LEVELS.items()}.get(level, str(level))
        db.execute("PRAGMA busy_timeout=10000")  # only while the schema is set up
        db.executescript(SCHEMA)
        db.executescript(NOTICES_SCHEMA)
        db.executescript(AUDIT_SCHEMA)
        db.executescript(APPROVALS_SCHEMA)
        db.executescript(CONVERSATIONS_SCHEMA)
        db.executescript(API_KEYS_SCHEMA)
        db.executescript(TASKS_SCHEMA)
        db.executescript(WEBHOOK_DELIVERIES_SCHEMA)
        upgrade_schema(db)
        # From here on the lane waits for other processes' locks, and the checkpointer checkpoints.
        db.execute("PRAGMA busy_timeout=0")
        db.execute("PRAGMA wal_autocheckpoint=0")
        # A log that grew during a burst shrinks back to this size when SQLite starts it over.
        db.execute(f"PRAGMA journal_size_limit={int(wal_limit_bytes)}")
        self._lane = Lane(db)
        self._checkpointer = Checkpointer(path, self._lane, wal_limit_bytes)
        self._max_attempts = max_attempts
        self._clock = clock
        self._event_listeners: list[Callable[[str, int], None]] = []

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in a transaction; it has committed (durably) when this returns."""
        return await self._lane.submit(work)

    async def record_delivery(
        self, delivery: Delivery, jobs: list[NewJob], cancels: list[CancelScope] | None = None
    ) -> list[str] | None:
        now = self._clock()

        def work(db: sqlite3.Connection) -> list[str] | None:
            # A conflict on the id (a redelivery) or on the body (a replay) records nothing.
            inserted = db.execute(
                "INSERT INTO deliveries (id, event, action, installation_id, repository, outcome,"
                " received_at, body_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    delivery.id,
                    delivery.event,
                    delivery.action,
                    delivery.installation_id,
                    delivery.repository,
                    delivery.outcome,
                    now,
                    delivery.body_sha256,
                ),
            ).rowcount
            if not inserted:
                return None
            for scope in cancels or []:
                self._cancel_scope(db, scope, now)
            return [self._insert_job(db, delivery.id, job, now) for job in jobs]

        return await self._run(work)

    def _cancel_scope(self, db: sqlite3.Connection, scope: CancelScope, now: float) -> None:
        """Cancel the installation's (or some repositories') queued and running jobs."""
        where = "installation_id = ? AND state IN ('queued', 'running', 'awaiting_approval')"
        args: list[Any] = [scope.installation_id]
        if scope.repositories is not None:
            where += f" AND repository IN ({', '.join('?' for _ in scope.repositories)})"
            args += list(scope.repositories)
        record_cancels(db, where, args, scope, now)  # in the audit trail, before they change
        sql = "UPDATE jobs SET state = 'cancelled', summary = ?, finished_at = ?, updated_at = ?"
        sql += f" WHERE {where}"
        db.execute(sql, (scope.reason, now, now, *args))
        db.execute(WITHDRAW_STALE, (now,))

    def _insert_job(self, db: sqlite3.Connection, delivery_id: str, job: NewJob, now: float) -> str:
        job_id = uuid.uuid4().hex
        # Nothing is superseded here: who asked is not known yet (see `supersede_older`).
        db.execute(
            "INSERT INTO jobs (id, kind, repository, target, number, installation_id, requested_by,"
            " delivery_id, payload, state, max_attempts, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
            (
                job_id,
                job.kind,
                job.repository,
                job.target,
                job.number,
                job.installation_id,
                job.requested_by,
                delivery_id,
                dumps(job.payload),
                self._max_attempts,
                now,
                now,
            ),
        )
        return job_id

    async def lease(self, worker_id: str, lease_seconds: float) -> Job | None:
        def work(db: sqlite3.Connection) -> Job | None:
            row = db.execute(NEXT_LEASABLE).fetchone()
            if row is None:
                return None
            now = self._clock()
            db.execute(
                "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,"
                " attempts = attempts + 1, started_at = COALESCE(started_at, ?), updated_at = ?"
                " WHERE id = ?",
                (worker_id, now + lease_seconds, now, now, row[0]),
            )
            return self._get(db, row[0])

        return await self._run(work)

    async def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            return bool(
                db.execute(
                    "UPDATE jobs SET lease_expires_at = ?, updated_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (now + lease_seconds, now, job_id, worker_id),
                ).rowcount
            )

        return await self._run(work)

    async def finish(
        self,
        job_id: str,
        worker_id: str,
        state: JobState,
        summary: str,
        usage: Mapping[str, Any] | None = None,
    ) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            finished = db.execute(
                "UPDATE jobs SET state = ?, summary = ?, usage = COALESCE(?, usage),"
                " finished_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL"
                " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                (
                    state.value,
                    summary,
                    dumps(usage) if usage is not None else None,
                    now,
                    now,
                    job_id,
                    worker_id,
                ),
            ).rowcount
            if not finished:
                # Cancelled meanwhile: the cancellation's summary stands; the worker lets go.
                db.execute(
                    "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = ?,"
                    " usage = COALESCE(?, usage) WHERE id = ? AND lease_owner = ?",
                    (now, dumps(usage) if usage is not None else None, job_id, worker_id),
                )
            return bool(finished)

        return await self._run(work)

    async def set_usage(self, job_id: str, usage: Mapping[str, Any]) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE jobs SET usage = ?, updated_at = ? WHERE id = ?",
                (dumps(usage), self._clock(), job_id),
            )

        await self._run(work)

    async def release(self, job_id: str, worker_id: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            return bool(
                db.execute(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,"
                    " attempts = MAX(attempts - 1, 0), updated_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (self._clock(), job_id, worker_id),
                ).rowcount
            )

        return await self._run(work)

    async def reclaim_expired(self, notice_kind: str | None = None) -> list[str]:
        def work(db: sqlite3.Connection) -> list[str]:
            now = self._clock()
            # A cancelled job's worker died before letting go: nobody holds it any more.
            db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL"
                " WHERE state = 'cancelled' AND lease_expires_at < ?",
                (now,),
            )
            expired = db.execute(
                "SELECT id, attempts, max_attempts FROM jobs"
                " WHERE state = 'running' AND lease_expires_at < ?",
                (now,),
            ).fetchall()
            for job_id, attempts, max_attempts in expired:
                if attempts >= max_attempts:
                    db.execute(
                        "UPDATE jobs SET state = 'failed', summary = ?, finished_at = ?,"
                        " updated_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
                        (
                            f"the worker running this job stopped {attempts} times; not retried",
                            now,
                            now,
                            job_id,
                        ),
                    )
                    if notice_kind is not None:
                        self._queue_interrupted_notice(db, job_id, notice_kind, now)
                else:
                    db.execute(
                        "UPDATE jobs SET state = 'queued', lease_owner = NULL,"
                        " lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                        (now, job_id),
                    )
            return [job_id for job_id, _, _ in expired]

        return await self._run(work)

    def _queue_interrupted_notice(
        self, db: sqlite3.Connection, job_id: str, kind: str, now: float
    ) -> None:
        """Queue the job that tells the thread (the reaper itself has no GitHub client)."""
        db.execute(QUEUE_INTERRUPTED_NOTICE, (uuid.uuid4().hex, kind, now, now, job_id, kind))

    async def cancel(self, job_id: str, reason: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            # The lease stays: its worker clears it (in finish) once the job has really stopped.
            cancelled = db.execute(
                "UPDATE jobs SET state = 'cancelled', summary = ?, finished_at = ?,"
                " updated_at = ? WHERE id = ?"
                " AND state IN ('queued', 'running', 'awaiting_approval')",
                (reason, now, now, job_id),
            ).rowcount
            db.execute(WITHDRAW_STALE, (now,))
            return bool(cancelled)

        return await self._run(work)

    async def supersede_older(self, job_id: str, reason: str) -> list[str]:
        def work(db: sqlite3.Connection) -> list[str]:
            newer = db.execute(
                "SELECT target, kind, created_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if newer is None:
                return []
            now = self._clock()
            # A request still waiting for approval goes too: the allowed trigger replaces it.
            rows = db.execute(
                "UPDATE jobs SET state = 'cancelled', summary = ?, finished_at = ?, updated_at = ?"
                " WHERE target = ? AND kind = ? AND state IN ('queued', 'awaiting_approval')"
                " AND created_at < ? RETURNING id",
                (reason, now, now, *newer),
            ).fetchall()
            db.execute(WITHDRAW_STALE, (now,))
            return [row[0] for row in rows]

        return await self._run(work)

    async def claim_notice(
        self, repository: str, number: int, person: str, kind: str, window_seconds: float
    ) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            now = self._clock()
            # GitHub's logins and repository names are case-insensitive.
            key = (repository.lower(), number, person.lower(), kind)
            return bool(
                db.execute(
                    "INSERT INTO notices (repository, number, person, kind, posted_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, number, person, kind)"
                    " DO UPDATE SET posted_at = excluded.posted_at WHERE notices.posted_at <= ?",
                    (*key, now, now - window_seconds),
                ).rowcount
            )

        return await self._run(work)

    async def active_jobs(self, target: str) -> list[Job]:
        def work(db: sqlite3.Connection) -> list[Job]:
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs"  # noqa: S608 (a constant column list)
                " WHERE target = ? AND state IN ('queued', 'running') ORDER BY created_at",
                (target,),
            ).fetchall()
            return [row_to_job(row) for row in rows]

        return await self._run(work)

    async def append_event(self, job_id: str, kind: str, data: Mapping[str, Any]) -> int:
        def work(db: sqlite3.Connection) -> int:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = ?", (job_id,)
            ).fetchone()
            db.execute(
                "INSERT INTO job_events (job_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                (job_id, last + 1, self._clock(), kind, dumps(data)),
            )
            return int(last) + 1

        seq = await self._run(work)
        for listener in self._event_listeners:  # committed: a reader woken now finds it
            listener(job_id, seq)
        return seq

    def watch_events(self, listener: Callable[[str, int], None]) -> None:
        self._event_listeners.append(listener)

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        def work(db: sqlite3.Connection) -> list[JobEvent]:
            rows = db.execute(
                "SELECT job_id, seq, at, kind, data FROM job_events"
                " WHERE job_id = ? AND seq > ? ORDER BY seq",
                (job_id, after),
            ).fetchall()
            return [JobEvent(r[0], r[1], r[2], r[3], loads(r[4])) for r in rows]

        return await self._run(work)

    async def conversation(self, repository: str, branch: str) -> Conversation | None:
        return await self._run(lambda db: select_conversation(db, repository, branch))

    async def save_conversation(self, conversation: Conversation) -> None:
        now = self._clock()
        await self._run(lambda db: upsert_conversation(db, conversation, now))

    async def record_audit(self, entry: AuditEntry) -> None:
        now = self._clock()
        await self._run(lambda db: insert_audit(db, entry, now))

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._run(lambda db: select_audit(db, query))

    async def create_task(self, job: NewJob, task: Task, since: float) -> TaskCreated:
        now = self._clock()
        delivery_id = f"api-{uuid.uuid4().hex}"
        return await self._run(
            lambda db: create_task(
                db,
                replace(task, created_at=now),
                since,
                lambda: self._insert_job(db, delivery_id, job, now),
            )
        )

    async def task(self, job_id: str) -> Task | None:
        return await self._run(lambda db: select_task(db, job_id))

    async def task_by_idempotency_key(self, idempotency_key: str, since: float) -> Task | None:
        return await self._run(lambda db: select_by_idempotency_key(db, idempotency_key, since))

    async def set_task_outcome(self, job_id: str, diff: str, result: Mapping[str, Any]) -> None:
        await self._run(lambda db: update_task_outcome(db, job_id, diff, result))

    async def list_tasks(self, query: TaskQuery) -> list[Job]:
        def work(db: sqlite3.Connection) -> list[Job]:
            jobs = (self._get(db, job_id) for job_id in select_job_ids(db, query))
            return [job for job in jobs if job is not None]

        return await self._run(work)

    def _get(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()  # noqa: S608
        return row_to_job(row) if row else None

    async def await_approval(
        self, job_id: str, worker_id: str, summary: str, expires_at: float
    ) -> bool:
        now = self._clock()
        return await self._run(
            lambda db: await_approval(db, job_id, worker_id, summary, expires_at, now)
        )

    async def approval(self, job_id: str) -> Approval | None:
        return await self._run(lambda db: select_approval(db, job_id))

    async def pending_approval(self, target: str) -> Approval | None:
        pending = await self._run(lambda db: select_pending(db, target, 1))
        return pending[0] if pending else None

    async def pending_approvals(self, limit: int = 100) -> list[Approval]:
        return await self._run(lambda db: select_pending(db, None, limit))

    async def decide_approval(
        self,
        job_id: str,
        decision: str,
        actor: str,
        reason: str = "",
        token_id: str = "",
        notice_kind: str | None = None,
    ) -> tuple[Approval | None, bool]:
        now = self._clock()
        return await self._run(
            lambda db: decide(db, job_id, decision, actor, reason, token_id, now, notice_kind)
        )

    async def expire_approvals(self, before: float, notice_kind: str | None) -> list[Approval]:
        now = self._clock()
        return await self._run(lambda db: expire(db, before, notice_kind, now))

    async def add_approval_token(self, token: ApprovalToken) -> bool:
        return await self._run(lambda db: insert_token(db, token))

    async def approval_token(self, token_id: str) -> ApprovalToken | None:
        return await self._run(lambda db: select_token(db, token_id))

    async def queue_webhook(self, delivery: WebhookDelivery) -> bool:
        return await self._run(lambda db: insert_delivery(db, delivery))

    async def claim_webhooks(
        self, now: float, until: float, owner: str, limit: int
    ) -> list[WebhookDelivery]:
        return await self._run(lambda db: claim_due(db, now, until, owner, limit))

    async def record_webhook_attempt(
        self, delivery_id: str, owner: str, attempt: WebhookAttempt, state: str, outcome: str
    ) -> bool:
        return await self._run(
            lambda db: record_attempt(db, delivery_id, owner, attempt, state, outcome)
        )

    async def webhook_deliveries(self, job_id: str) -> list[WebhookDelivery]:
        return await self._run(lambda db: select_deliveries(db, job_id))

    async def unqueued_webhooks(
        self, finished_since: float, created_since: float, limit: int
    ) -> list[str]:
        return await self._run(lambda db: select_unqueued(db, finished_since, created_since, limit))

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        await self._run(lambda db: insert_key(db, key))

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        return await self._run(lambda db: select_key(db, key_id))

    async def api_keys(self) -> list[ApiKeyRecord]:
        return await self._run(select_keys)

    async def revoke_api_key(self, key_id: str) -> bool:
        now = self._clock()
        return await self._run(lambda db: revoke_key(db, key_id, now))

    async def get_job(self, job_id: str) -> Job | None:
        return await self._run(lambda db: self._get(db, job_id))

    async def list_jobs(self, state: JobState | None = None, limit: int = 50) -> list[Job]:
        def work(db: sqlite3.Connection) -> list[Job]:
            where, args = ("WHERE state = ?", [state.value]) if state else ("", [])
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs {where} ORDER BY created_at DESC LIMIT ?",  # noqa: S608
                (*args, limit),
            ).fetchall()
            return [row_to_job(row) for row in rows]

        return await self._run(work)

    async def has_delivery(self, delivery_id: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            found = db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            return found is not None

        return await self._run(work)

    async def add_usage(
        self, installation_id: int, day: str, tokens: int, cost_usd: float
    ) -> DailyUsage:
        def work(db: sqlite3.Connection) -> DailyUsage:
            db.execute(
                "INSERT INTO usage_daily (installation_id, day, tokens, cost_usd, jobs)"
                " VALUES (?, ?, ?, ?, 1) ON CONFLICT (installation_id, day) DO UPDATE SET"
                " tokens = tokens + excluded.tokens, cost_usd = cost_usd + excluded.cost_usd,"
                " jobs = jobs + 1",
                (installation_id, day, tokens, cost_usd),
            )
            row = db.execute(
                "SELECT installation_id, day, tokens, cost_usd, jobs FROM usage_daily"
                " WHERE installation_id = ? AND day = ?",
                (installation_id, day),
            ).fetchone()
            return DailyUsage(*row)

        return await self._run(work)

    async def usage_on(self, day: str) -> list[DailyUsage]:
        def work(db: sqlite3.Connection) -> list[DailyUsage]:
            rows = db.execute(
                "SELECT installation_id, day, tokens, cost_usd, jobs FROM usage_daily"
                " WHERE day = ? ORDER BY installation_id",
                (day,),
            ).fetchall()
            return [DailyUsage(*row) for row in rows]

        return await self._run(work)

    async def quota_counts(
        self,
        installation_id: int | None,
        user: str,
        kinds: frozenset[str],
        since: float,
        exclude_job: str = "",
    ) -> QuotaCounts:
        marks = ", ".join("?" * len(kinds))

        def work(db: sqlite3.Connection) -> QuotaCounts:
            (active,) = db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE state = 'running' AND id != ?"  # noqa: S608
                f" AND installation_id IS ? AND kind IN ({marks})",
                (exclude_job, installation_id, *kinds),
            ).fetchone()
            count, oldest = db.execute(
                f"SELECT COUNT(*), MIN(started_at) FROM jobs WHERE id != ?"  # noqa: S608
                f" AND installation_id IS ? AND requested_by = ? AND kind IN ({marks})"
                " AND started_at >= ? AND NOT (state = 'cancelled' AND summary LIKE 'refused:%')",
                (exclude_job, installation_id, user, *kinds, since),
            ).fetchone()
            return QuotaCounts(int(active), int(count), oldest)

        return await self._run(work)

    async def running_by_installation(self) -> dict[int, int]:
        def work(db: sqlite3.Connection) -> dict[int, int]:
            rows = db.execute(
                "SELECT installation_id, COUNT(*) FROM jobs WHERE state = 'running'"
                " AND installation_id IS NOT NULL GROUP BY installation_id"
            ).fetchall()
            return {int(i): int(n) for i, n in rows}

        return await self._run(work)

    async def queue_stats(self) -> QueueStats:
        def work(db: sqlite3.Connection) -> QueueStats:
            depth, oldest = db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE state = 'queued'"
            ).fetchone()
            return QueueStats(int(depth), oldest)

        return await self._run(work)

    async def prune(self, before: float) -> Pruned:
        deliveries = job_payloads = job_events = 0
        more = True
        while more:
            removed, more = await self._run(lambda db: prune_deliveries(db, before))
            deliveries += removed
        while True:
            jobs, events = await self._run(lambda db: prune_jobs(db, before))
            job_payloads, job_events = job_payloads + jobs, job_events + events
            if jobs < PRUNE_JOBS_BATCH:
                break
        notices = await self._run(
            lambda db: db.execute("DELETE FROM notices WHERE posted_at < ?", (before,)).rowcount
        )
        audit = 0
        more = True
        while more:
            removed, more = await self._run(lambda db: prune_audit(db, before))
            audit += removed
        conversations = await self._run(lambda db: prune_conversations(db, before))
        await self._run(lambda db: prune_tasks(db, before))  # a task's diff goes with its log
        approvals = await self._run(lambda db: prune_approvals(db, before))
        webhooks = 0
        more = True
        while more:
            removed, more = await self._run(lambda db: prune_webhook_deliveries(db, before))
            webhooks += removed
        return Pruned(
            deliveries, job_payloads, job_events, notices, audit, conversations, approvals, webhooks
        )

    async def running_since(self) -> float | None:
        def work(db: sqlite3.Connection) -> float | None:
            (since,) = db.execute(
                "SELECT MIN(started_at) FROM jobs WHERE state = 'running'"
            ).fetchone()
            return since

        return await self._run(work)

    async def get_marker(self, name: str) -> str | None:
        def work(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT value FROM markers WHERE name = ?", (name,)).fetchone()
            return row[0] if row else None

        return await self._run(work)

    async def set_marker(self, name: str, value: str) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO markers (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

        await self._run(work)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await asyncio.to_thread(self._checkpointer.stop)
        self._lane.close()
