"""The queue across the cluster, by job kind: how many jobs wait, run or await approval, and
how long the oldest waiting one has waited. Read from the shared store, so every node's
metrics report the same figures."""

from __future__ import annotations

from dataclasses import dataclass

from app.store.dialect import Db

# The states a job is in before it ends (finished ones are counted as they end, by the metrics).
OPEN_STATES = ("queued", "running", "awaiting_approval")


@dataclass(frozen=True)
class KindQueue:
    """One kind's jobs in one open state, and the oldest's creation time."""

    kind: str
    state: str
    jobs: int
    oldest_created_at: float | None


def select_by_kind(db: Db) -> list[KindQueue]:
    """Each (kind, open state) that has jobs; uses the jobs_by_state index."""
    marks = ", ".join("?" * len(OPEN_STATES))
    rows = db.execute(
        f"SELECT kind, state, COUNT(*), MIN(created_at) FROM jobs WHERE state IN ({marks})"  # noqa: S608
        " GROUP BY kind, state ORDER BY kind, state",
        OPEN_STATES,
    ).fetchall()
    return [KindQueue(kind, state, int(n), oldest) for kind, state, n, oldest in rows]
