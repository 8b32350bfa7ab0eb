"""Schedules: recurring tasks per repository, and their slots.

A slot (a schedule's id and the time its cron names) is a row with that pair as its key: the
node that inserts it owns it, in the same transaction that queues its job (or records why the
slot is skipped), so a slot fires once however many nodes run the scheduler, on SQLite and on
PostgreSQL (where a second insert of the pair waits for the first to commit, then finds it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.store.dialect import Db

SCHEDULES_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    installation_id INTEGER,
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    prompt TEXT NOT NULL,
    output TEXT NOT NULL,
    issue_number INTEGER,
    source TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    paused INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (repository, name)
);
CREATE TABLE IF NOT EXISTS schedule_slots (
    schedule_id TEXT NOT NULL,
    slot_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    job_id TEXT,
    claimed_at REAL NOT NULL,
    claimed_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (schedule_id, slot_at)
);
"""

# What became of a slot: its job was queued, or it was skipped (with the reason).
QUEUED, SKIPPED = "queued", "skipped"
OUTPUTS = ("pull_request", "issue_comment", "issue")
SOURCES = ("api", "repository")
# Job states in which a schedule's earlier job makes its next slot skip.
UNFINISHED = ("queued", "running", "awaiting_approval")


@dataclass(frozen=True)
class Schedule:
    id: str
    repository: str
    installation_id: int | None
    name: str
    cron: str
    timezone: str
    prompt: str
    output: str
    issue_number: int | None
    source: str
    created_by: str = ""
    paused: bool = False
    created_at: float = 0.0


@dataclass(frozen=True)
class Slot:
    """One slot of a schedule, as it was claimed; `job_state` is its job's state now."""

    schedule_id: str
    slot_at: float
    outcome: str
    reason: str
    job_id: str | None
    job_state: str = ""


@dataclass(frozen=True)
class ScheduleView:
    """A schedule with its latest slot (None before its first)."""

    schedule: Schedule
    last: Slot | None


@dataclass(frozen=True)
class SlotClaim:
    """What claiming a slot did: nothing (another node had it), a job queued, or a skip."""

    claimed: bool
    job_id: str | None = None
    reason: str = ""


COLUMNS = (
    "id, repository, installation_id, name, cron, timezone, prompt, output, issue_number,"
    " source, created_by, paused, created_at"
)


def row_to_schedule(row: tuple[Any, ...]) -> Schedule:
    (id_, repository, installation_id, name, cron, timezone, prompt, output, issue_number,
     source, created_by, paused, created_at) = row  # fmt: skip
    return Schedule(
        id=id_,
        repository=repository,
        installation_id=installation_id,
        name=name,
        cron=cron,
        timezone=timezone,
        prompt=prompt,
        output=output,
        issue_number=issue_number,
        source=source,
        created_by=created_by,
        paused=bool(paused),
        created_at=created_at,
    )


def insert_schedule(db: Db, schedule: Schedule, now: float) -> bool:
    """Keep a new schedule; False when the repository already has one of that name."""
    cursor = db.execute(
        f"INSERT INTO schedules ({COLUMNS}, updated_at)"  # noqa: S608 (constant columns)
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (repository, name) DO NOTHING",
        (
            schedule.id,
            schedule.repository,
            schedule.installation_id,
            schedule.name,
            schedule.cron,
            schedule.timezone,
            schedule.prompt,
            schedule.output,
            schedule.issue_number,
            schedule.source,
            schedule.created_by,
            int(schedule.paused),
            now,
            now,
        ),
    )
    return bool(cursor.rowcount)


def select_schedule(db: Db, schedule_id: str) -> Schedule | None:
    row = db.execute(
        f"SELECT {COLUMNS} FROM schedules WHERE id = ?",  # noqa: S608 (constant columns)
        (schedule_id,),
    ).fetchone()
    return row_to_schedule(row) if row else None


def last_slot(db: Db, schedule_id: str) -> Slot | None:
    row = db.execute(
        "SELECT s.schedule_id, s.slot_at, s.outcome, s.reason, s.job_id, j.state"
        " FROM schedule_slots s LEFT JOIN jobs j ON j.id = s.job_id"
        " WHERE s.schedule_id = ? ORDER BY s.slot_at DESC LIMIT 1",
        (schedule_id,),
    ).fetchone()
    if row is None:
        return None
    return Slot(row[0], row[1], row[2], row[3], row[4], row[5] or "")


def select_schedules(db: Db, repository: str = "") -> list[ScheduleView]:
    """Every schedule (of one repository when given), by repository and name, with its last slot."""
    where, args = ("WHERE repository = ?", (repository,)) if repository else ("", ())
    rows = db.execute(
        f"SELECT {COLUMNS} FROM schedules {where}"  # noqa: S608 (constant fragments)
        " ORDER BY repository, name",
        args,
    ).fetchall()
    schedules = [row_to_schedule(row) for row in rows]
    return [ScheduleView(schedule, last_slot(db, schedule.id)) for schedule in schedules]


def select_slots(db: Db, schedule_id: str) -> list[Slot]:
    """A schedule's slots, oldest first."""
    rows = db.execute(
        "SELECT s.schedule_id, s.slot_at, s.outcome, s.reason, s.job_id, j.state"
        " FROM schedule_slots s LEFT JOIN jobs j ON j.id = s.job_id"
        " WHERE s.schedule_id = ? ORDER BY s.slot_at",
        (schedule_id,),
    ).fetchall()
    return [Slot(row[0], row[1], row[2], row[3], row[4], row[5] or "") for row in rows]


def set_paused(db: Db, schedule_id: str, paused: bool, now: float) -> bool:
    cursor = db.execute(
        "UPDATE schedules SET paused = ?, updated_at = ? WHERE id = ?",
        (int(paused), now, schedule_id),
    )
    return bool(cursor.rowcount)


def delete_schedule(db: Db, schedule_id: str) -> bool:
    """The schedule and its slots (its jobs stay, as every job does)."""
    db.execute("DELETE FROM schedule_slots WHERE schedule_id = ?", (schedule_id,))
    return bool(db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount)


def take_slot(
    db: Db,
    schedule_id: str,
    slot_at: float,
    node: str,
    skip_reason: str,
    queue_job: Callable[[], str],
    now: float,
) -> SlotClaim:
    """Own the slot, then queue its job (`queue_job` returns its id), or skip it: with
    `skip_reason` when one is given, when the schedule is paused or gone, or when a job of the
    schedule is still queued or running. Nothing when another node owns the slot already."""
    inserted = db.execute(
        "INSERT INTO schedule_slots (schedule_id, slot_at, outcome, claimed_at, claimed_by)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (schedule_id, slot_at) DO NOTHING",
        (schedule_id, slot_at, SKIPPED, now, node),
    ).rowcount
    if not inserted:
        return SlotClaim(claimed=False)
    reason = skip_reason or _busy_reason(db, schedule_id)
    if reason:
        db.execute(
            "UPDATE schedule_slots SET reason = ? WHERE schedule_id = ? AND slot_at = ?",
            (reason, schedule_id, slot_at),
        )
        return SlotClaim(claimed=True, reason=reason)
    job_id = queue_job()
    db.execute(
        "UPDATE schedule_slots SET outcome = ?, job_id = ? WHERE schedule_id = ? AND slot_at = ?",
        (QUEUED, job_id, schedule_id, slot_at),
    )
    return SlotClaim(claimed=True, job_id=job_id)


def _busy_reason(db: Db, schedule_id: str) -> str:
    """Why the schedule cannot fire now ("" when it can)."""
    row = db.execute("SELECT paused FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
    if row is None:
        return "the schedule was deleted"
    if row[0]:
        return "the schedule is paused"
    marks = ", ".join("?" for _ in UNFINISHED)
    busy = db.execute(
        "SELECT j.id, j.state FROM schedule_slots s JOIN jobs j ON j.id = s.job_id"  # noqa: S608
        f" WHERE s.schedule_id = ? AND j.state IN ({marks}) ORDER BY j.created_at LIMIT 1",
        (schedule_id, *UNFINISHED),
    ).fetchone()
    if busy is not None:
        return f"the schedule's job {busy[0]} of an earlier slot is still {busy[1]}"
    return ""


def prune_slots(db: Db, before: float) -> int:
    """Slots claimed before `before`, but each schedule's latest (where its walk starts) and any
    whose job is not finished (the overlap check reads them); how many went."""
    marks = ", ".join("?" for _ in UNFINISHED)
    return db.execute(
        "DELETE FROM schedule_slots WHERE claimed_at < ?"  # noqa: S608 (constant fragments)
        " AND slot_at < (SELECT MAX(s.slot_at) FROM schedule_slots s"
        " WHERE s.schedule_id = schedule_slots.schedule_id)"
        f" AND (job_id IS NULL OR job_id NOT IN (SELECT id FROM jobs WHERE state IN ({marks})))",
        (before, *UNFINISHED),
    ).rowcount


@dataclass(frozen=True)
class ScheduleSync:
    """What replacing a repository's declared schedules did, by name; `refused` are names an
    operator's schedule of the repository holds already (the operator's stays)."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def replace_repository_schedules(
    db: Db, repository: str, schedules: list[Schedule], now: float
) -> ScheduleSync:
    """Make the repository's `source='repository'` schedules exactly `schedules` (the operator's
    are not touched). One kept by name keeps its id, its state and its slots, so the walk goes
    on from its last slot and a slot that fired does not fire again, whatever its new cron."""
    rows = db.execute(
        "SELECT id, name FROM schedules WHERE repository = ? AND source = 'repository'",
        (repository,),
    ).fetchall()
    existing = {name: id_ for id_, name in rows}
    created, updated, refused = [], [], []
    for schedule in schedules:
        if schedule.name in existing:
            db.execute(
                "UPDATE schedules SET installation_id = ?, cron = ?, timezone = ?, prompt = ?,"
                " output = ?, issue_number = ?, created_by = ?, updated_at = ? WHERE id = ?",
                (
                    schedule.installation_id,
                    schedule.cron,
                    schedule.timezone,
                    schedule.prompt,
                    schedule.output,
                    schedule.issue_number,
                    schedule.created_by,
                    now,
                    existing[schedule.name],
                ),
            )
            updated.append(schedule.name)
        elif insert_schedule(db, schedule, now):
            created.append(schedule.name)
        else:
            refused.append(schedule.name)
    wanted = {schedule.name for schedule in schedules}
    removed = sorted(name for name in existing if name not in wanted)
    for name in removed:
        delete_schedule(db, existing[name])
    return ScheduleSync(tuple(created), tuple(updated), tuple(removed), tuple(refused))
