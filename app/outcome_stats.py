"""What became of fixwright's pull requests, per repository: the figures `GET /v1/stats` and
`fixwright stats` give, from the store's records (pure: no I/O, no clock)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.store.outcomes import CLOSED, MERGED, OPEN, PullRequestOutcome

DEFAULT_SINCE = "30d"
TOTAL = "all repositories"


@dataclass(frozen=True)
class RepositoryStats:
    """One repository's pull requests opened in the period, and what became of them.

    `cost_per_merged_usd` divides what every pull request of the period cost (the ones closed
    unmerged or still open too) by the merged ones: what a merge delivered costs, all in.
    """

    repository: str
    opened: int
    merged: int
    closed: int
    open: int
    median_seconds_to_merge: float | None
    followup_rounds: int
    reopened: int
    approvals: int
    changes_requested: int
    cost_usd: float

    @property
    def merge_rate(self) -> float | None:
        decided = self.merged + self.closed
        return self.merged / decided if decided else None

    @property
    def cost_per_merged_usd(self) -> float | None:
        return self.cost_usd / self.merged if self.merged else None

    def record(self) -> dict[str, Any]:
        """As JSON gives it (the API and `--json`)."""
        median = self.median_seconds_to_merge
        per_merged = self.cost_per_merged_usd
        return {
            "repository": self.repository,
            "opened": self.opened,
            "merged": self.merged,
            "closed": self.closed,
            "open": self.open,
            "merge_rate": None if self.merge_rate is None else round(self.merge_rate, 4),
            "median_seconds_to_merge": None if median is None else round(median, 1),
            "followup_rounds": self.followup_rounds,
            "reopened": self.reopened,
            "approvals": self.approvals,
            "changes_requested": self.changes_requested,
            "cost_usd": round(self.cost_usd, 4),
            "cost_per_merged_usd": None if per_merged is None else round(per_merged, 4),
        }


def summarise(repository: str, outcomes: Sequence[PullRequestOutcome]) -> RepositoryStats:
    """The figures of one repository's pull requests (or of all, under `TOTAL`)."""
    merge_times = [
        seconds for item in outcomes if (seconds := item.seconds_to_merge) is not None
    ]
    return RepositoryStats(
        repository=repository,
        opened=len(outcomes),
        merged=sum(1 for item in outcomes if item.state == MERGED),
        closed=sum(1 for item in outcomes if item.state == CLOSED),
        open=sum(1 for item in outcomes if item.state == OPEN),
        median_seconds_to_merge=statistics.median(merge_times) if merge_times else None,
        followup_rounds=sum(item.followup_rounds for item in outcomes),
        reopened=sum(item.reopened for item in outcomes),
        approvals=sum(item.approvals for item in outcomes),
        changes_requested=sum(item.changes_requested for item in outcomes),
        cost_usd=sum(item.cost_usd for item in outcomes),
    )


def per_repository(outcomes: Iterable[PullRequestOutcome]) -> list[RepositoryStats]:
    """One row per repository with a pull request in the period, by name."""
    grouped: dict[str, list[PullRequestOutcome]] = {}
    for item in outcomes:
        grouped.setdefault(item.repository, []).append(item)
    return [summarise(name, grouped[name]) for name in sorted(grouped)]


def stats_document(outcomes: Sequence[PullRequestOutcome], since: float) -> dict[str, Any]:
    """The whole answer: the period's start, each repository, and the totals."""
    return {
        "since": datetime.fromtimestamp(since, UTC).isoformat(),
        "repositories": [row.record() for row in per_repository(outcomes)],
        "totals": summarise(TOTAL, outcomes).record(),
    }


def duration_text(seconds: float | None) -> str:
    """`3d 4h`, `5h 10m`, `12m`; `-` for none."""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def money_text(amount: float | None) -> str:
    return "-" if amount is None else f"${amount:.2f}"


COLUMNS = (
    "repository",
    "opened",
    "merged",
    "closed",
    "open",
    "median to merge",
    "follow-ups",
    "cost",
    "per merged",
)


def table_rows(rows: Sequence[RepositoryStats]) -> list[tuple[str, ...]]:
    return [
        (
            "".join(c if c.isprintable() else "?" for c in row.repository),
            str(row.opened),
            str(row.merged),
            str(row.closed),
            str(row.open),
            duration_text(row.median_seconds_to_merge),
            str(row.followup_rounds),
            money_text(row.cost_usd),
            money_text(row.cost_per_merged_usd),
        )
        for row in rows
    ]


def render_table(outcomes: Sequence[PullRequestOutcome]) -> list[str]:
    """A line per repository and one for the totals, columns as wide as their widest cell."""
    rows = per_repository(outcomes)
    if not rows:
        return ["no pull request fixwright opened in this period"]
    cells = [COLUMNS, *table_rows(rows)]
    if len(rows) > 1:
        cells.extend(table_rows([summarise(TOTAL, outcomes)]))
    widths = [max(len(row[column]) for row in cells) for column in range(len(COLUMNS))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
