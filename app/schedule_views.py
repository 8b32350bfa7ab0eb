"""A schedule as the API and `fixwright schedules` show it: its fields, its next run and its
last one with what became of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.schedule_times import next_slot
from app.store.schedules import ScheduleView


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def schedule_document(view: ScheduleView, now: float) -> dict[str, Any]:
    """The schedule's fields, `next_run` (null while paused) and `last_run` (null before any)."""
    schedule = view.schedule
    last = view.last
    return {
        "id": schedule.id,
        "repository": schedule.repository,
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "prompt": schedule.prompt,
        "output": schedule.output,
        "issue": schedule.issue_number,
        "source": schedule.source,
        "paused": schedule.paused,
        "created_by": schedule.created_by,
        "created_at": iso(schedule.created_at),
        "next_run": None
        if schedule.paused
        else iso(next_slot(schedule.cron, schedule.timezone, now)),
        "last_run": None
        if last is None
        else {
            "slot_at": iso(last.slot_at),
            "outcome": last.outcome,
            "reason": last.reason,
            "job_id": last.job_id,
            "job_state": last.job_state or None,
        },
    }
