"""The tasks' table: what a job created through the task API carries besides the job row (its
external id, the idempotency key with the body's hash, the webhook to call when it ends, the
options it was given) and what it left (the diff, capped and redacted, and the result).

A task's credentials are never here: they are held in memory only (app/task_secrets.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from app.store.dialect import Db

TASKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    job_id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    body_sha256 TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    webhook_url TEXT NOT NULL DEFAULT '',
    webhook_secret TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    has_credentials INTEGER NOT NULL DEFAULT 0,
    diff TEXT NOT NULL DEFAULT '',
    result TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_external_id ON tasks (external_id) WHERE external_id != '';
CREATE INDEX IF NOT EXISTS tasks_by_idempotency_key ON tasks (idempotency_key, created_at)
    WHERE idempotency_key != '';
"""


@dataclass(frozen=True)
class Task:
    """A task's own fields. `options` holds what the request asked for (never a credential);
    `has_credentials` says credentials were given, to be found in memory when it runs."""

    job_id: str
    created_at: float
    external_id: str = ""
    idempotency_key: str = ""
    body_sha256: str = ""
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    has_credentials: bool = False
    diff: str = ""
    result: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TaskCreated:
    """What creating a task did: a new job, the one an earlier request with the same idempotency
    key and body created (`created` False), or nothing for the same key with another body."""

    job_id: str
    created: bool
    conflict: bool = False


@dataclass(frozen=True)
class TaskQuery:
    """Which jobs to list (any kind: a webhook's job is readable as a task), newest first,
    after a cursor (`next` of the page before)."""

    state: str = ""
    repository: str = ""
    external_id: str = ""
    cursor: str = ""
    limit: int = 50


def cursor_of(created_at: float, job_id: str) -> str:
    """An opaque cursor naming the last job of a page."""
    return base64.urlsafe_b64encode(json.dumps([created_at, job_id]).encode()).decode()


def read_cursor(cursor: str) -> tuple[float, str] | None:
    """The position a cursor names, or None when it is not one of ours."""
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(created_at, int | float) or not isinstance(job_id, str):
        return None
    return float(created_at), job_id


def insert_task(db: Db, task: Task) -> None:
    db.execute(
        "INSERT INTO tasks (job_id, external_id, idempotency_key, body_sha256, created_at,"
        " webhook_url, webhook_secret, options, has_credentials)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            task.job_id,
            task.external_id,
            task.idempotency_key,
            task.body_sha256,
            task.created_at,
            task.webhook_url,
            task.webhook_secret,
            json.dumps(dict(task.options), separators=(",", ":")),
            int(task.has_credentials),
        ),
    )


def select_by_idempotency_key(db: Db, idempotency_key: str, since: float) -> Task | None:
    """The task created with this idempotency key since `since`, if any."""
    row = db.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks"  # noqa: S608 (constant columns)
        " WHERE idempotency_key = ? AND created_at >= ? ORDER BY created_at DESC LIMIT 1",
        (idempotency_key, since),
    ).fetchone()
    return row_to_task(row) if row else None


def create_task(db: Db, task: Task, since: float, insert_job: Callable[[], str]) -> TaskCreated:
    """Queue the job (`insert_job` returns its id) and keep the task's row, unless a task with
    the same idempotency key was created since `since`: then that one (the same body) or a
    conflict (another body), and nothing is written."""
    if task.idempotency_key:
        earlier = select_by_idempotency_key(db, task.idempotency_key, since)
        if earlier is not None:
            conflict = earlier.body_sha256 != task.body_sha256
            return TaskCreated(earlier.job_id, created=False, conflict=conflict)
    job_id = insert_job()
    insert_task(db, replace(task, job_id=job_id))
    return TaskCreated(job_id, created=True)


TASK_COLUMNS = (
    "job_id, created_at, external_id, idempotency_key, body_sha256, webhook_url, webhook_secret,"
    " options, has_credentials, diff, result"
)


def row_to_task(row: tuple[Any, ...]) -> Task:
    (job_id, created_at, external_id, idempotency_key, body_sha256, webhook_url, webhook_secret,
     options, has_credentials, diff, result) = row  # fmt: skip
    return Task(
        job_id=job_id,
        created_at=created_at,
        external_id=external_id,
        idempotency_key=idempotency_key,
        body_sha256=body_sha256,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        options=json.loads(options) if options else {},
        has_credentials=bool(has_credentials),
        diff=diff,
        result=json.loads(result) if result else None,
    )


def select_task(db: Db, job_id: str) -> Task | None:
    row = db.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE job_id = ?",  # noqa: S608 (constant columns)
        (job_id,),
    ).fetchone()
    return row_to_task(row) if row else None


def update_task_outcome(db: Db, job_id: str, diff: str, result: Mapping[str, Any]) -> None:
    db.execute(
        "UPDATE tasks SET diff = ?, result = ? WHERE job_id = ?",
        (diff, json.dumps(dict(result), separators=(",", ":")), job_id),
    )


def select_job_ids(db: Db, query: TaskQuery) -> list[str]:
    """The ids of the jobs that match, newest first, after the query's cursor."""
    where: list[str] = []
    args: list[Any] = []
    if query.state:
        where.append("jobs.state = ?")
        args.append(query.state)
    if query.repository:
        where.append("jobs.repository = ?")
        args.append(query.repository)
    if query.external_id:
        where.append("tasks.external_id = ?")
        args.append(query.external_id)
    position = read_cursor(query.cursor) if query.cursor else None
    if position is not None:
        where.append("(jobs.created_at < ? OR (jobs.created_at = ? AND jobs.id < ?))")
        args += [position[0], position[0], position[1]]
    join = "JOIN tasks ON tasks.job_id = jobs.id" if query.external_id else ""
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = db.execute(
        f"SELECT jobs.id FROM jobs {join} {clause}"  # noqa: S608 (constant fragments)
        " ORDER BY jobs.created_at DESC, jobs.id DESC LIMIT ?",
        (*args, query.limit),
    ).fetchall()
    return [row[0] for row in rows]


def prune_tasks(db: Db, before: float) -> int:
    """The diffs and webhook secrets of tasks whose job finished before `before` (the row stays,
    with its result); how many tasks were emptied."""
    return db.execute(
        "UPDATE tasks SET diff = '', webhook_secret = '' WHERE (diff != '' OR webhook_secret != '')"
        " AND job_id IN (SELECT id FROM jobs WHERE finished_at < ?"
        " AND state IN ('succeeded', 'failed', 'cancelled'))",
        (before,),
    ).rowcount
