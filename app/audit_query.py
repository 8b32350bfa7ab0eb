"""Reading the audit trail, for the command and the API alike: the period asked for, the form a
repository filter must have, and an entry as JSON shows it. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from app.store.model import AuditEntry

# `30m`, `12h`, `7d`, `2w`: at most five digits, so no amount overflows a date.
RELATIVE = re.compile(r"(\d{1,5})([mhdw])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


def parse_since(text: str, now: float) -> float:
    """The start of the period, as a Unix time: `7d` (before `now`), a UTC date `2026-12-01`, or
    an ISO time (UTC unless it names its offset). ValueError says what is accepted."""
    text = text.strip()
    relative = RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * UNIT_SECONDS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00", 1)) if len(text) < 40 else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(
            f"{text[:40]!r} is not a period or a time: use an age like 30m, 12h, 7d or 2w, a date "
            "like 2026-12-01 (UTC), or an ISO time like 2026-12-01T09:30:00Z"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """An entry as JSON shows it (`fixwright audit --json`, `GET /v1/audit`): the time in UTC."""
    return {
        "at": datetime.fromtimestamp(entry.at, UTC).isoformat(),
        "action": entry.action,
        "actor": entry.actor,
        "installation_id": entry.installation_id,
        "repository": entry.repository,
        "subject": entry.subject,
        "detail": entry.detail,
    }
