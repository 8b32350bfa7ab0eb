"""Quota holds: an installation's running jobs and the model tokens its runs have reserved,
counted in the shared store so every node sees the same figures.

A leased job takes a place among its installation's running jobs (`claim_slot`); a run takes
its token budget out of the installation's day before it starts (`reserve`) and turns it into
what it really spent when it ends (`settle`). Each holds the installation's lock (PostgreSQL's
advisory lock; SQLite's writer lock holds everything) while it reads the holds and the day's
spend and writes its own, so two nodes deciding at once decide one after the other: they cannot
both take the last place, nor both the day's last tokens.

A hold lives while its job runs under the lease that took it. A worker that died leaves holds
whose job was put back, finished or whose lease ran out: the next decision for the installation
removes them, so what they held is given back. A hold without a job record lives until its
`expires_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.store.dialect import Db, Dialect
from app.store.model import DailyUsage

HOLDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_holds (
    job_id TEXT PRIMARY KEY,
    installation_id INTEGER NOT NULL,
    holder TEXT NOT NULL,
    slot INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS quota_holds_by_installation ON quota_holds (installation_id);
"""

# Holds whose job is no longer running under the lease that took them, or that ran out.
FORGET_STALE = """
DELETE FROM quota_holds WHERE installation_id = ? AND (expires_at <= ? OR EXISTS (
    SELECT 1 FROM jobs j WHERE j.id = quota_holds.job_id AND NOT (
        j.state = 'running' AND COALESCE(j.lease_owner, '') = quota_holds.holder
        AND COALESCE(j.lease_expires_at, 0) > ?
    )
))
"""


@dataclass(frozen=True)
class DayLimits:
    """An installation's daily limits (0: none), and what the dearest token a run may use costs,
    to turn the dollars left into tokens."""

    tokens: int
    cost_usd: float
    usd_per_token: float


@dataclass(frozen=True)
class DayReservation:
    """What a run was given out of its installation's day, and what the day looked like:
    spent (recorded) and held (by the other runs in flight, on any node)."""

    granted: int
    spent_tokens: int
    spent_cost_usd: float
    held_tokens: int
    held_cost_usd: float


def lock_key(installation_id: int) -> str:
    return f"quota-{installation_id}"


def hold_lock(db: Db, dialect: Dialect, installation_id: int, now: float) -> None:
    """Take the installation's lock, then forget its stale holds (giving back what they held)."""
    dialect.lock(db, lock_key(installation_id))
    db.execute(FORGET_STALE, (installation_id, now, now))


def claim_slot(
    db: Db,
    dialect: Dialect,
    job_id: str,
    installation_id: int,
    holder: str,
    limit: int,
    now: float,
    expires_at: float,
) -> int | None:
    """Admit `job_id` among the installation's running jobs: None when it got a place (or there
    is no limit), else how many jobs hold the places. A job admitted again (put back and leased
    anew) starts with nothing reserved."""
    hold_lock(db, dialect, installation_id, now)
    (running,) = db.execute(
        "SELECT COUNT(*) FROM quota_holds WHERE installation_id = ? AND slot = 1 AND job_id != ?",
        (installation_id, job_id),
    ).fetchone()
    if limit and int(running) >= limit:
        return int(running)
    db.execute(
        "INSERT INTO quota_holds (job_id, installation_id, holder, slot, tokens, cost_usd,"
        " expires_at) VALUES (?, ?, ?, 1, 0, 0, ?) ON CONFLICT (job_id) DO UPDATE SET"
        " installation_id = excluded.installation_id, holder = excluded.holder, slot = 1,"
        " tokens = 0, cost_usd = 0, expires_at = excluded.expires_at",
        (job_id, installation_id, holder, expires_at),
    )
    return None


def reserve(
    db: Db,
    dialect: Dialect,
    job_id: str,
    installation_id: int,
    holder: str,
    day: str,
    limits: DayLimits,
    ask: int | None,
    now: float,
    expires_at: float,
) -> DayReservation:
    """Give the run at most `ask` tokens (None: all that is left) of what the day has left once
    its spend and the other runs' holds are taken off, and hold them (and their price at the
    dearest token) until `settle`. A job's earlier reservation is replaced."""
    hold_lock(db, dialect, installation_id, now)
    row = db.execute(
        "SELECT tokens, cost_usd FROM usage_daily WHERE installation_id = ? AND day = ?",
        (installation_id, day),
    ).fetchone()
    spent_tokens, spent_cost = (int(row[0]), float(row[1])) if row else (0, 0.0)
    held_tokens, held_cost = db.execute(
        "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_usd), 0) FROM quota_holds"
        " WHERE installation_id = ? AND job_id != ?",
        (installation_id, job_id),
    ).fetchone()
    held_tokens, held_cost = int(held_tokens), float(held_cost)
    granted = tokens_left(limits, spent_tokens + held_tokens, spent_cost + held_cost)
    if ask is not None:
        granted = min(granted, max(0, ask))
    db.execute(
        "INSERT INTO quota_holds (job_id, installation_id, holder, slot, tokens, cost_usd,"
        " expires_at) VALUES (?, ?, ?, 0, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
        " tokens = excluded.tokens, cost_usd = excluded.cost_usd, holder = excluded.holder,"
        " expires_at = CASE WHEN quota_holds.expires_at > excluded.expires_at"
        " THEN quota_holds.expires_at ELSE excluded.expires_at END",
        (job_id, installation_id, holder, granted, granted * limits.usd_per_token, expires_at),
    )
    return DayReservation(granted, spent_tokens, spent_cost, held_tokens, held_cost)


def tokens_left(limits: DayLimits, used_tokens: int, used_cost: float) -> int:
    """The tokens the day still has room for, by its token limit and its dollar limit at the
    dearest token's price (rounding down, so cost fails closed)."""
    candidates = []
    if limits.tokens:
        candidates.append(limits.tokens - used_tokens)
    if limits.cost_usd and limits.usd_per_token > 0:
        candidates.append(int((limits.cost_usd - used_cost) / limits.usd_per_token + 1e-6))
    return max(0, min(candidates)) if candidates else 0


def settle(
    db: Db,
    dialect: Dialect,
    job_id: str,
    installation_id: int,
    day: str,
    tokens: int,
    cost_usd: float,
    now: float,
) -> DailyUsage:
    """Charge what the run spent to its day and drop its reservation in one step (the job keeps
    its place among the running ones)."""
    hold_lock(db, dialect, installation_id, now)
    db.execute(
        "INSERT INTO usage_daily (installation_id, day, tokens, cost_usd, jobs)"
        " VALUES (?, ?, ?, ?, 1) ON CONFLICT (installation_id, day) DO UPDATE SET"
        " tokens = usage_daily.tokens + excluded.tokens,"
        " cost_usd = usage_daily.cost_usd + excluded.cost_usd, jobs = usage_daily.jobs + 1",
        (installation_id, day, tokens, cost_usd),
    )
    db.execute("DELETE FROM quota_holds WHERE job_id = ? AND slot = 0", (job_id,))
    db.execute("UPDATE quota_holds SET tokens = 0, cost_usd = 0 WHERE job_id = ?", (job_id,))
    row = db.execute(
        "SELECT installation_id, day, tokens, cost_usd, jobs FROM usage_daily"
        " WHERE installation_id = ? AND day = ?",
        (installation_id, day),
    ).fetchone()
    return DailyUsage(int(row[0]), row[1], int(row[2]), float(row[3]), int(row[4]))
