"""When a schedule's slots fall: its cron expression read in its timezone (cronsim walks the
local wall clock through daylight-saving changes), as seconds since the epoch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

# A walk through missed slots stops after this many: a minutely schedule down for a week
# records its latest skipped slots, not ten thousand rows.
MAX_SLOTS_WALKED = 1000


def cron_problem(cron: str) -> str:
    """Why a cron expression is refused ("" when it is not): five fields, as cron has them."""
    if len(cron.split()) != 5:
        return "must have five fields: minute hour day-of-month month day-of-week"
    try:
        CronSim(cron, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        return f"is not a cron expression: {error}"
    except (ValueError, LookupError, OverflowError):  # whatever else the parser trips on
        return "is not a cron expression"
    return ""


def timezone_problem(name: str) -> str:
    """Why a timezone name is refused ("" when it is an IANA name zoneinfo knows)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "is not a timezone name (an IANA name such as UTC or Europe/Paris)"
    return ""


def slots_after(cron: str, timezone: str, after: float) -> Iterator[float]:
    """The slots strictly after `after`, in order."""
    start = datetime.fromtimestamp(after, ZoneInfo(timezone))
    for moment in CronSim(cron, start):
        yield moment.timestamp()


def next_slot(cron: str, timezone: str, after: float) -> float:
    return next(slots_after(cron, timezone, after))


def due_slots(cron: str, timezone: str, after: float, now: float) -> list[float]:
    """The slots after `after` up to `now` included, oldest first; the latest
    `MAX_SLOTS_WALKED` of them when there are more."""
    due: list[float] = []
    for slot in slots_after(cron, timezone, after):
        if slot > now:
            break
        due.append(slot)
        if len(due) > MAX_SLOTS_WALKED:
            due.pop(0)
    return due
