"""What became of fixwright's pull requests, per repository: the figures `GET /v1/stats` and
`fixwright stats` give, from the store's records (pure: no I/O, no clock)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
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
    # Findings fixwright's reviews posted in the period (on anyone's pull request), and how many
    # of them a later commit addressed.
    findings_posted: int = 0
    findings_addressed: int = 0

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
            "findings_posted": self.findings_posted,
            "findings_addressed": self.findings_addressed,
        }


# Per repository: (findings posted, of them addressed).
Findings = Mapping[str, tuple[int, int]]


def summarise(
    repository: str, outcomes: Sequence[PullRequestOutcome], findings: tuple[int, int] = (0, 0)
) -> RepositoryStats:
    """The figures of one repository's pull requests (or of all, under `TOTAL`)."""
    merge_times = [seconds for item in outcomes if (seconds := item.seconds_to_merge) is not None]
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
        findings_posted=findings[0],
        findings_addressed=findings[1],
    )


def per_repository(
    outcomes: Iterable[PullRequestOutcome], findings: Findings | None = None
) -> list[RepositoryStats]:
    """One row per repository with a pull request or a finding in the period, by name."""
    findings = findings or {}
    grouped: dict[str, list[PullRequestOutcome]] = {name: [] for name in findings}
    for item in outcomes:
        grouped.setdefault(item.repository, []).append(item)
    return [summarise(name, grouped[name], findings.get(name, (0, 0))) for name in sorted(grouped)]


def total(
    outcomes: Sequence[PullRequestOutcome], findings: Findings | None = None
) -> RepositoryStats:
    counts = list((findings or {}).values())
    return summarise(TOTAL, outcomes, (sum(c[0] for c in counts), sum(c[1] for c in counts)))


def stats_document(
    outcomes: Sequence[PullRequestOutcome], since: float, findings: Findings | None = None
) -> dict[str, Any]:
    """The whole answer: the period's start, each repository, and the totals."""
    return {
        "since": datetime.fromtimestamp(since, UTC).isoformat(),
        "repositories": [row.record() for row in per_repository(outcomes, findings)],
        "totals": total(outcomes, findings).record(),
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
    "findings addressed",
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
            f"{row.findings_addressed}/{row.findings_posted}",
        )
        for row in rows
    ]


def render_table(
    outcomes: Sequence[PullRequestOutcome], findings: Findings | None = None
) -> list[str]:
    """A line per repository and one for the totals, columns as wide as their widest cell."""
    rows = per_repository(outcomes, findings)
    if not rows:
        return ["no pull request fixwright opened, and no review finding, in this period"]
    cells = [COLUMNS, *table_rows(rows)]
    if len(rows) > 1:
        cells.extend(table_rows([total(outcomes, findings)]))
    widths = [max(len(row[column]) for row in cells) for column in range(len(COLUMNS))]
    return [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
