"""The store's SQL, shared by both engines: each method builds a `work(db)` closure that runs in
one transaction, and the engine (`_run`) decides where and how (SQLite's group-commit lane,
PostgreSQL's connection pool)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import structlog

from app.store.api_keys import (
    ApiKeyRecord,
    insert_key,
    revoke_key,
    select_key,
    select_keys,
)
from app.store.approvals import (
    ATTEMPT_GIVEN_BACK,
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
    insert_audit,
    prune_audit,
    record_cancels,
    select_audit,
)
from app.store.budget import (
    DayLimits,
    DayReservation,
    claim_slot,
    reserve,
    settle,
)
from app.store.conversations import (
    prune_conversations,
    select_conversation,
    upsert_conversation,
)
from app.store.dialect import SQLITE, Db, Dialect
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
from app.store.outcomes import (
    PostedFinding,
    PullRequestChange,
    PullRequestOutcome,
    Recorded,
    apply_change,
    count_findings,
    count_states,
    insert_findings,
    insert_opened,
    insert_review,
    mark_addressed,
    select_open_findings,
    select_outcome,
    select_outcomes,
)
from app.store.queue_stats import KindQueue, select_by_kind
from app.store.schedules import (
    Schedule,
    ScheduleSync,
    ScheduleView,
    Slot,
    SlotClaim,
    delete_schedule,
    insert_schedule,
    prune_slots,
    replace_repository_schedules,
    select_schedule,
    select_schedules,
    select_slots,
    set_paused,
    take_slot,
)
from app.store.tasks import (
    Task,
    TaskCreated,
    TaskQuery,
    create_task,
    insert_task,
    prune_tasks,
    select_by_idempotency_key,
    select_job_ids,
    select_task,
    update_task_outcome,
)
from app.store.webhook_deliveries import (
    WebhookAttempt,
    WebhookDelivery,
    claim_due,
    insert_delivery,
    prune_webhook_deliveries,
    record_attempt,
    select_deliveries,
    select_unqueued,
)
from app.store.workers import (
    WorkerRecord,
    delete_worker,
    mark_lost,
    select_workers,
    upsert_worker,
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
        AND newer.created_at > {job}.created_at{fence}
  )"""

# A queued job is leasable when its target (issue or PR) has nothing running, no newer trigger
# of its kind shadows it, and no earlier leasable job of its target waits: jobs for one target
# run one at a time, in order.
LEASABLE = """candidate.state = 'queued'
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS busy
      WHERE busy.target = candidate.target AND busy.state = 'running'{fence}
  )
  AND NOT {shadowed_candidate}
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS earlier
      WHERE earlier.target = candidate.target AND earlier.state = 'queued'
        AND earlier.created_at < candidate.created_at
        AND NOT {shadowed_earlier}{fence}
  )"""


def leasable(dialect: Dialect) -> str:
    """LEASABLE for one engine. On PostgreSQL each test stays a subquery run per candidate with
    the target's index (`OFFSET 0` keeps the planner from turning it into a join): as a join,
    planned on statistics taken while the queue was empty (a new database, a quiet night), it read
    every queued job for each candidate, and a lease took 0.2 s with 150 jobs queued, growing
    with the square of the queue. SQLite's planner already probes `jobs_by_target` there."""
    fence = "\n        OFFSET 0" if dialect.is_postgresql else ""
    return LEASABLE.format(
        fence=fence,
        shadowed_candidate=SHADOWED.format(job="candidate", fence=fence),
        shadowed_earlier=SHADOWED.format(job="earlier", fence=fence),
    )


def next_leasable(dialect: Dialect) -> str:
    """The oldest leasable jobs, locked as the engine needs (see `SqlStore.lease`)."""
    return (
        f"SELECT {JOB_COLUMNS} FROM jobs AS candidate WHERE {leasable(dialect)}"  # noqa: S608
        f" ORDER BY created_at LIMIT ? {dialect.skip_locked('candidate')}"
    )


def still_leasable(dialect: Dialect) -> str:
    """The same test for one job, made again once its target's lock is held."""
    return f"SELECT 1 FROM jobs AS candidate WHERE candidate.id = ? AND {leasable(dialect)}"  # noqa: S608


# Jobs one lease looks at on PostgreSQL, where other nodes may hold some of them.
LEASE_CANDIDATES = 8

# Where an interrupted job's notice finds the failed job in its payload.
INTERRUPTED_KEY = "interruption"

# A notice job for the thread of an interrupted job: same target and delivery, the failed job's
# id, kind and attempts under INTERRUPTED_KEY in its payload (the kind is the registry's
# `interruption_notice`; the payload is built in Python, as the engines' JSON functions differ).
QUEUE_INTERRUPTED_NOTICE = """
INSERT INTO jobs (id, kind, repository, target, number, installation_id, requested_by,
                  delivery_id, payload, state, max_attempts, created_at, updated_at)
SELECT ?, ?, repository, target, number, installation_id, requested_by, delivery_id,
       ?, 'queued', max_attempts, ?, ?
FROM jobs WHERE id = ? AND kind != ? AND number IS NOT NULL
"""

# Channels of PostgreSQL's notifications (SQLite's store calls its listeners in-process).
JOBS_CHANNEL = "fixwright_jobs"
EVENTS_CHANNEL = "fixwright_events"


def prune_deliveries(db: Db, before: float) -> tuple[int, bool]:
    """Delete the oldest deliveries received before `before`; (how many, whether more may be).

    Rows are taken in rowid order, which is arrival order, and the step stops at the first
    younger one: no index on the time is needed, which would cost every delivery a write.
    (PostgreSQL has no rowid: its deliveries table has an identity column of that name.)
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


def prune_jobs(db: Db, before: float, dialect: Dialect = SQLITE) -> tuple[int, int]:
    """Empty the payloads and delete the logs of jobs finished before `before`; (jobs, events)."""
    ids = [
        row[0]
        for row in db.execute(
            # Named, as SQLite would pick the state index and read every finished job there is.
            f"SELECT id FROM jobs {dialect.indexed_by('jobs_to_prune')} WHERE payload != '{{}}'"  # noqa: S608
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


def call_listener(listener: Callable[..., None], *args: Any) -> None:
    """Call one watcher; one that raises is logged, and neither the others nor the committed
    call that woke them fail with it."""
    try:
        listener(*args)
    except Exception as error:
        structlog.get_logger("fixwright").exception("store.listener_failed", error=str(error))


class SqlStore:
    """The Store's methods over SQL both engines run; an engine adds `_run` and `close`.

    `_run(work)` runs `work(db)` in one transaction and returns its result once committed.
    """

    dialect: Dialect

    def __init__(self, *, max_attempts: int = 2, clock: Callable[[], float] = time.time) -> None:
        self._max_attempts = max_attempts
        self._clock = clock
        self._event_listeners: list[Callable[[str, int], None]] = []
        self._job_listeners: list[Callable[[], None]] = []

    async def _run(self, work: Callable[[Db], T]) -> T:
        raise NotImplementedError

    async def _run_shared(self, work: Callable[[Db], T]) -> T:
        """`_run(work)` for the intake's calls, which an engine may commit together with others
        of their kind (SQLite's lane already shares every commit)."""
        return await self._run(work)

    async def _run_and_wake(
        self, work: Callable[[Db], T], woke: Callable[[T], bool], *, shared: bool = False
    ) -> T:
        """`_run(work)` (`_run_shared` when `shared`), and when `woke(result)` says a job may
        have become leasable, tell the job watchers once it has committed: PostgreSQL's NOTIFY
        is sent by the commit itself (to every node), SQLite's listeners are called here."""

        def noting(db: Db) -> T:
            result = work(db)
            if woke(result):
                self.dialect.notify(db, JOBS_CHANNEL)
            return result

        result = await (self._run_shared if shared else self._run)(noting)
        if woke(result) and not self.dialect.is_postgresql:
            self._wake_jobs()
        return result

    def _wake_jobs(self) -> None:
        for listener in list(self._job_listeners):
            call_listener(listener)

    def watch_jobs(self, listener: Callable[[], None]) -> None:
        self._job_listeners.append(listener)

    async def record_delivery(
        self, delivery: Delivery, jobs: list[NewJob], cancels: list[CancelScope] | None = None
    ) -> list[str] | None:
        now = self._clock()

        def work(db: Db) -> list[str] | None:
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

        return await self._run_and_wake(
            work, lambda ids: bool(ids or (ids is not None and cancels)), shared=True
        )

    def _cancel_scope(self, db: Db, scope: CancelScope, now: float) -> None:
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

    def _insert_job(self, db: Db, delivery_id: str, job: NewJob, now: float) -> str:
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
        # SQLite runs one writer at a time: the first leasable job is taken as found. On
        # PostgreSQL several nodes lease at once, each in its own READ COMMITTED transaction:
        # - the candidates are locked FOR UPDATE SKIP LOCKED, so two nodes never take the same
        #   job (a row another node is leasing is passed over, not waited for);
        # - "nothing of this target runs" is a fact about other rows, which a row lock cannot
        #   hold: each lease takes a transaction advisory lock on the target and tests the job
        #   again in a new statement, which sees every lease committed before the lock was
        #   granted. A node that made a job of the target running held that lock until its
        #   commit, so the test sees it running and the job is passed over: one job per target
        #   runs at a time across every node. A hash collision of two targets only makes them
        #   wait for each other.
        postgresql = self.dialect.is_postgresql
        candidates_sql, recheck_sql = next_leasable(self.dialect), still_leasable(self.dialect)

        def work(db: Db) -> Job | None:
            rows = db.execute(candidates_sql, (LEASE_CANDIDATES if postgresql else 1,)).fetchall()
            for row in rows:
                job_id, target = row[0], row[3]
                if postgresql and not (
                    self.dialect.try_lock(db, f"target:{target}")
                    and db.execute(recheck_sql, (job_id,)).fetchone() is not None
                ):
                    continue
                now = self._clock()
                taken = db.execute(
                    "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,"
                    " attempts = attempts + 1, started_at = COALESCE(started_at, ?),"
                    " updated_at = ? WHERE id = ? AND state = 'queued'",
                    (worker_id, now + lease_seconds, now, now, job_id),
                ).rowcount
                if taken:
                    return self._get(db, job_id)
            return None

        return await self._run(work)

    async def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        def work(db: Db) -> bool:
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
        def work(db: Db) -> bool:
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

        # A finished job leaves its target free for the next one.
        return await self._run_and_wake(work, bool)

    async def set_usage(self, job_id: str, usage: Mapping[str, Any]) -> None:
        def work(db: Db) -> None:
            db.execute(
                "UPDATE jobs SET usage = ?, updated_at = ? WHERE id = ?",
                (dumps(usage), self._clock(), job_id),
            )

        await self._run(work)

    async def release(self, job_id: str, worker_id: str) -> bool:
        def work(db: Db) -> bool:
            return bool(
                db.execute(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,"  # noqa: S608
                    f" attempts = {ATTEMPT_GIVEN_BACK}, updated_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 'running'",
                    (self._clock(), job_id, worker_id),
                ).rowcount
            )

        return await self._run_and_wake(work, bool)

    async def reclaim_expired(self, notice_kind: str | None = None) -> list[str]:
        # Each node's reaper may run at once: rows another one is reclaiming are skipped, and
        # each update tests the expiry again, so a job is reclaimed (and its notice queued) once.
        expired_sql = (
            "SELECT id, attempts, max_attempts FROM jobs AS expired"  # noqa: S608
            f" WHERE state = 'running' AND lease_expires_at < ? {self.dialect.skip_locked('expired')}"
        )

        def work(db: Db) -> list[str]:
            now = self._clock()
            # A cancelled job's worker died before letting go: nobody holds it any more.
            db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL"
                " WHERE state = 'cancelled' AND lease_expires_at < ?",
                (now,),
            )
            reclaimed = []
            for job_id, attempts, max_attempts in db.execute(expired_sql, (now,)).fetchall():
                if attempts >= max_attempts:
                    moved = db.execute(
                        "UPDATE jobs SET state = 'failed', summary = ?, finished_at = ?,"
                        " updated_at = ?, lease_owner = NULL, lease_expires_at = NULL"
                        " WHERE id = ? AND state = 'running' AND lease_expires_at < ?",
                        (
                            f"the worker running this job stopped {attempts} times; not retried",
                            now,
                            now,
                            job_id,
                            now,
                        ),
                    ).rowcount
                    if moved and notice_kind is not None:
                        self._queue_interrupted_notice(db, job_id, notice_kind, now)
                else:
                    moved = db.execute(
                        "UPDATE jobs SET state = 'queued', lease_owner = NULL,"
                        " lease_expires_at = NULL, updated_at = ?"
                        " WHERE id = ? AND state = 'running' AND lease_expires_at < ?",
                        (now, job_id, now),
                    ).rowcount
                if moved:
                    reclaimed.append(job_id)
            return reclaimed

        return await self._run_and_wake(work, bool)

    def _queue_interrupted_notice(self, db: Db, job_id: str, kind: str, now: float) -> None:
        """Queue the job that tells the thread (the reaper itself has no GitHub client)."""
        row = db.execute(
            "SELECT payload, kind, attempts FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        payload = loads(row[0])
        payload[INTERRUPTED_KEY] = {"job_id": job_id, "kind": row[1], "attempts": row[2]}
        db.execute(
            QUEUE_INTERRUPTED_NOTICE,
            (uuid.uuid4().hex, kind, dumps(payload), now, now, job_id, kind),
        )

    async def cancel(self, job_id: str, reason: str) -> bool:
        def work(db: Db) -> bool:
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

        return await self._run_and_wake(work, bool)

    async def supersede_older(self, job_id: str, reason: str) -> list[str]:
        def work(db: Db) -> list[str]:
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

        return await self._run_and_wake(work, bool)

    async def claim_notice(
        self, repository: str, number: int, person: str, kind: str, window_seconds: float
    ) -> bool:
        def work(db: Db) -> bool:
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
        def work(db: Db) -> list[Job]:
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs"  # noqa: S608 (a constant column list)
                " WHERE target = ? AND state IN ('queued', 'running') ORDER BY created_at",
                (target,),
            ).fetchall()
            return [row_to_job(row) for row in rows]

        return await self._run(work)

    async def append_event(self, job_id: str, kind: str, data: Mapping[str, Any]) -> int:
        def work(db: Db) -> int:
            # Two nodes appending to one log at once take turns (PostgreSQL; SQLite has one
            # writer), so each entry gets the next number.
            self.dialect.lock(db, f"events:{job_id}")
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = ?", (job_id,)
            ).fetchone()
            seq = int(last) + 1
            db.execute(
                "INSERT INTO job_events (job_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                (job_id, seq, self._clock(), kind, dumps(data)),
            )
            self.dialect.notify(db, EVENTS_CHANNEL, f"{job_id} {seq}")
            return seq

        seq = await self._run(work)
        if not self.dialect.is_postgresql:  # PostgreSQL's listener hears the NOTIFY instead
            self._wake_events(job_id, seq)
        return seq

    def _wake_events(self, job_id: str, seq: int) -> None:
        for listener in list(self._event_listeners):  # committed: a reader woken now finds it
            call_listener(listener, job_id, seq)

    def watch_events(self, listener: Callable[[str, int], None]) -> None:
        self._event_listeners.append(listener)

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        def work(db: Db) -> list[JobEvent]:
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

        def work(db: Db) -> TaskCreated:
            if task.idempotency_key:  # two nodes given one key at once: the second finds the first
                self.dialect.lock(db, f"task:{task.idempotency_key}")
            return create_task(
                db,
                replace(task, created_at=now),
                since,
                lambda: self._insert_job(db, delivery_id, job, now),
            )

        return await self._run_and_wake(work, lambda created: created.created)

    async def task(self, job_id: str) -> Task | None:
        return await self._run(lambda db: select_task(db, job_id))

    async def task_by_idempotency_key(self, idempotency_key: str, since: float) -> Task | None:
        return await self._run(lambda db: select_by_idempotency_key(db, idempotency_key, since))

    async def set_task_outcome(self, job_id: str, diff: str, result: Mapping[str, Any]) -> None:
        await self._run(lambda db: update_task_outcome(db, job_id, diff, result))

    async def list_tasks(self, query: TaskQuery) -> list[Job]:
        def work(db: Db) -> list[Job]:
            jobs = (self._get(db, job_id) for job_id in select_job_ids(db, query))
            return [job for job in jobs if job is not None]

        return await self._run(work)

    def _get(self, db: Db, job_id: str) -> Job | None:
        row = db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()  # noqa: S608
        return row_to_job(row) if row else None

    async def await_approval(
        self, job_id: str, worker_id: str, summary: str, expires_at: float
    ) -> bool:
        now = self._clock()
        return await self._run_and_wake(
            lambda db: await_approval(db, job_id, worker_id, summary, expires_at, now), bool
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
        return await self._run_and_wake(
            lambda db: decide(db, job_id, decision, actor, reason, token_id, now, notice_kind),
            lambda outcome: outcome[1],
        )

    async def expire_approvals(self, before: float, notice_kind: str | None) -> list[Approval]:
        now = self._clock()
        return await self._run_and_wake(lambda db: expire(db, before, notice_kind, now), bool)

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
        return await self._run(
            lambda db: select_unqueued(db, finished_since, created_since, limit, self.dialect)
        )

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
        def work(db: Db) -> list[Job]:
            where, args = ("WHERE state = ?", [state.value]) if state else ("", [])
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs {where} ORDER BY created_at DESC LIMIT ?",  # noqa: S608
                (*args, limit),
            ).fetchall()
            return [row_to_job(row) for row in rows]

        return await self._run(work)

    async def has_delivery(self, delivery_id: str) -> bool:
        def work(db: Db) -> bool:
            found = db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            return found is not None

        return await self._run(work)

    async def add_usage(
        self, installation_id: int, day: str, tokens: int, cost_usd: float
    ) -> DailyUsage:
        def work(db: Db) -> DailyUsage:
            db.execute(
                "INSERT INTO usage_daily (installation_id, day, tokens, cost_usd, jobs)"
                " VALUES (?, ?, ?, ?, 1) ON CONFLICT (installation_id, day) DO UPDATE SET"
                " tokens = usage_daily.tokens + excluded.tokens,"
                " cost_usd = usage_daily.cost_usd + excluded.cost_usd, jobs = usage_daily.jobs + 1",
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
        def work(db: Db) -> list[DailyUsage]:
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
        # `IS ?` matches NULL on SQLite only: the NULL case is spelt out for both engines.
        installation = (
            "installation_id IS NULL" if installation_id is None else "installation_id = ?"
        )
        given = () if installation_id is None else (installation_id,)

        def work(db: Db) -> QuotaCounts:
            (active,) = db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE state = 'running' AND id != ?"  # noqa: S608
                f" AND {installation} AND kind IN ({marks})",
                (exclude_job, *given, *kinds),
            ).fetchone()
            count, oldest = db.execute(
                f"SELECT COUNT(*), MIN(started_at) FROM jobs WHERE id != ?"  # noqa: S608
                f" AND {installation} AND requested_by = ? AND kind IN ({marks})"
                " AND started_at >= ? AND NOT (state = 'cancelled' AND summary LIKE 'refused:%')",
                (exclude_job, *given, user, *kinds, since),
            ).fetchone()
            return QuotaCounts(int(active), int(count), oldest)

        return await self._run(work)

    async def running_by_installation(self) -> dict[int, int]:
        def work(db: Db) -> dict[int, int]:
            rows = db.execute(
                "SELECT installation_id, COUNT(*) FROM jobs WHERE state = 'running'"
                " AND installation_id IS NOT NULL GROUP BY installation_id"
            ).fetchall()
            return {int(i): int(n) for i, n in rows}

        return await self._run(work)

    async def queue_stats(self) -> QueueStats:
        def work(db: Db) -> QueueStats:
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
            jobs, events = await self._run(lambda db: prune_jobs(db, before, self.dialect))
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
        await self._run(lambda db: prune_slots(db, before))  # each schedule's latest stays
        webhooks = 0
        more = True
        while more:
            removed, more = await self._run(lambda db: prune_webhook_deliveries(db, before))
            webhooks += removed
        return Pruned(
            deliveries, job_payloads, job_events, notices, audit, conversations, approvals, webhooks
        )

    async def running_since(self) -> float | None:
        def work(db: Db) -> float | None:
            (since,) = db.execute(
                "SELECT MIN(started_at) FROM jobs WHERE state = 'running'"
            ).fetchone()
            return since

        return await self._run(work)

    async def get_marker(self, name: str) -> str | None:
        def work(db: Db) -> str | None:
            row = db.execute("SELECT value FROM markers WHERE name = ?", (name,)).fetchone()
            return row[0] if row else None

        return await self._run(work)

    async def set_marker(self, name: str, value: str) -> None:
        def work(db: Db) -> None:
            db.execute(
                "INSERT INTO markers (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

        await self._run(work)

    async def claim_quota_slot(
        self, job_id: str, installation_id: int, holder: str, limit: int, hold_seconds: float
    ) -> int | None:
        now = self._clock()
        return await self._run(
            lambda db: claim_slot(
                db, self.dialect, job_id, installation_id, holder, limit, now, now + hold_seconds
            )
        )

    async def reserve_day_budget(
        self,
        hold: str,
        installation_id: int,
        holder: str,
        day: str,
        limits: DayLimits,
        ask: int | None,
        hold_seconds: float,
    ) -> DayReservation:
        now = self._clock()
        return await self._run(
            lambda db: reserve(
                db,
                self.dialect,
                hold,
                installation_id,
                holder,
                day,
                limits,
                ask,
                now,
                now + hold_seconds,
            )
        )

    async def settle_day_budget(
        self, hold: str, installation_id: int, day: str, tokens: int, cost_usd: float
    ) -> DailyUsage:
        now = self._clock()
        return await self._run(
            lambda db: settle(db, self.dialect, hold, installation_id, day, tokens, cost_usd, now)
        )

    async def queue_by_kind(self) -> list[KindQueue]:
        return await self._run(select_by_kind)

    async def beat_worker(self, worker: WorkerRecord) -> None:
        await self._run(lambda db: upsert_worker(db, worker))

    async def remove_worker(self, worker_id: str) -> bool:
        return await self._run(lambda db: delete_worker(db, worker_id))

    async def workers(self) -> list[WorkerRecord]:
        return await self._run(select_workers)

    async def mark_lost_workers(self, before: float) -> list[str]:
        return await self._run(lambda db: mark_lost(db, before, self._clock()))

    # What became of fixwright's pull requests (app/store/outcomes.py).

    async def record_pull_request_opened(
        self,
        repository: str,
        number: int,
        branch: str,
        job_id: str,
        installation_id: int | None,
    ) -> bool:
        now = self._clock()
        return await self._run(
            lambda db: insert_opened(db, repository, number, branch, job_id, installation_id, now)
        )

    async def record_pull_request_change(self, change: PullRequestChange) -> Recorded:
        now = self._clock()
        return await self._run(lambda db: apply_change(db, change, now))

    async def record_pull_request_review(
        self, repository: str, number: int, review_id: int, state: str, reviewer: str, at: float
    ) -> bool:
        return await self._run(
            lambda db: insert_review(db, repository, number, review_id, state, reviewer, at)
        )

    async def pull_request_outcome(self, repository: str, number: int) -> PullRequestOutcome | None:
        return await self._run(lambda db: select_outcome(db, repository, number))

    async def pull_request_outcomes(
        self, since: float, repository: str = ""
    ) -> list[PullRequestOutcome]:
        return await self._run(lambda db: select_outcomes(db, since, repository))

    async def pull_request_counts(self) -> dict[str, int]:
        return await self._run(count_states)

    async def record_review_findings(self, findings: list[PostedFinding]) -> int:
        now = self._clock()
        return await self._run(lambda db: insert_findings(db, findings, now))

    async def open_review_findings(self, repository: str, number: int) -> list[PostedFinding]:
        return await self._run(lambda db: select_open_findings(db, repository, number))

    async def mark_findings_addressed(self, keys: list[tuple[str, int]], commit_sha: str) -> int:
        now = self._clock()
        return await self._run(lambda db: mark_addressed(db, keys, commit_sha, now))

    async def review_finding_counts(
        self, since: float, repository: str = ""
    ) -> dict[str, tuple[int, int]]:
        return await self._run(lambda db: count_findings(db, since, repository))

    # Schedules and their slots (app/store/schedules.py).

    async def create_schedule(self, schedule: Schedule) -> bool:
        now = self._clock()
        return await self._run(lambda db: insert_schedule(db, schedule, now))

    async def schedule(self, schedule_id: str) -> Schedule | None:
        return await self._run(lambda db: select_schedule(db, schedule_id))

    async def schedules(self, repository: str = "") -> list[ScheduleView]:
        return await self._run(lambda db: select_schedules(db, repository))

    async def schedule_slots(self, schedule_id: str) -> list[Slot]:
        return await self._run(lambda db: select_slots(db, schedule_id))

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool:
        now = self._clock()
        return await self._run(lambda db: set_paused(db, schedule_id, paused, now))

    async def delete_schedule(self, schedule_id: str) -> bool:
        return await self._run(lambda db: delete_schedule(db, schedule_id))

    async def replace_repository_schedules(
        self, repository: str, schedules: list[Schedule]
    ) -> ScheduleSync:
        now = self._clock()

        def work(db: Db) -> ScheduleSync:
            # Two syncs of one repository one after the other: each sees the other's result.
            self.dialect.lock(db, f"schedule-sync:{repository}")
            return replace_repository_schedules(db, repository, schedules, now)

        return await self._run(work)

    async def claim_schedule_slot(
        self, schedule_id: str, slot_at: float, node: str, skip_reason: str, job: NewJob, task: Task
    ) -> SlotClaim:
        now = self._clock()
        delivery_id = f"schedule-{schedule_id}-{int(slot_at)}"

        def queue_job(db: Db) -> str:
            job_id = self._insert_job(db, delivery_id, job, now)
            insert_task(db, replace(task, job_id=job_id, created_at=now))
            return job_id

        def work(db: Db) -> SlotClaim:
            # One schedule's slots one at a time: the check for its job still running holds.
            self.dialect.lock(db, f"schedule:{schedule_id}")
            return take_slot(
                db, schedule_id, slot_at, node, skip_reason, lambda: queue_job(db), now
            )

        return await self._run_and_wake(work, lambda claim: claim.job_id is not None)
