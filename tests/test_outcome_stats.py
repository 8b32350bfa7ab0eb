"""The stats' arithmetic on records (pure): counts by outcome, the median time to merge, the
follow-up rounds, and the cost per merged pull request counting the ones that went nowhere."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.outcome_stats import (
    TOTAL,
    duration_text,
    per_repository,
    render_table,
    stats_document,
    summarise,
)
from app.store.outcomes import PullRequestOutcome

HOUR = 3600.0
BASE = PullRequestOutcome(
    repository="octo/one",
    number=1,
    branch="fixwright/issue-1",
    job_id="j1",
    installation_id=7,
    opened_at=1_000_000.0,
    state="open",
    merged_at=None,
    closed_at=None,
    reopened=0,
    followup_rounds=0,
    cost_usd=0.0,
)


def merged(
    number: int, hours: float, cost: float, repository: str = "octo/one", **more: int
) -> PullRequestOutcome:
    at = BASE.opened_at + hours * HOUR
    return replace(
        BASE,
        repository=repository,
        number=number,
        state="merged",
        merged_at=at,
        closed_at=at,
        cost_usd=cost,
        **more,
    )


def test_each_repository_gets_its_counts_median_rounds_and_cost_per_merge() -> None:
    outcomes = [
        merged(1, 1, 1.0, followup_rounds=2),
        merged(2, 5, 2.0),
        merged(3, 2, 0.5, followup_rounds=1),
        replace(BASE, number=4, state="closed", closed_at=BASE.opened_at + 60, cost_usd=1.5),
        replace(BASE, number=5, cost_usd=0.25, reopened=1),
        merged(9, 10, 4.0, repository="octo/two"),
    ]
    one, two = per_repository(outcomes)
    assert (one.repository, two.repository) == ("octo/one", "octo/two")
    assert (one.opened, one.merged, one.closed, one.open) == (5, 3, 1, 1)
    assert one.median_seconds_to_merge == 2 * HOUR  # of 1h, 5h and 2h
    assert one.followup_rounds == 3 and one.reopened == 1
    # What all five cost, per merge: the closed and open ones are part of the price.
    assert one.cost_per_merged_usd == pytest.approx((1.0 + 2.0 + 0.5 + 1.5 + 0.25) / 3)
    assert one.merge_rate == pytest.approx(3 / 4)
    total = summarise(TOTAL, outcomes)
    assert (total.opened, total.merged) == (6, 4)
    assert total.median_seconds_to_merge == pytest.approx(3.5 * HOUR)  # of 1, 2, 5 and 10


def test_nothing_merged_has_no_median_and_no_cost_per_merge() -> None:
    stats = summarise("octo/one", [replace(BASE, cost_usd=3.0)])
    assert stats.median_seconds_to_merge is None and stats.cost_per_merged_usd is None
    assert stats.merge_rate is None
    record = stats.record()
    assert record["median_seconds_to_merge"] is None and record["cost_per_merged_usd"] is None
    assert record["cost_usd"] == 3.0


def test_a_merge_recorded_before_its_opening_counts_as_no_time() -> None:
    """The opening is the store's clock, the merge GitHub's: a skew never makes time negative."""
    early = replace(merged(1, 0, 0.1), merged_at=BASE.opened_at - 5)
    assert early.seconds_to_merge == 0.0


def test_the_document_and_the_table() -> None:
    outcomes = [merged(1, 26, 1.0), merged(2, 0.5, 3.0, repository="octo/two")]
    document = stats_document(outcomes, since=0.0)
    assert document["since"] == "1970-01-01T00:00:00+00:00"
    assert [row["repository"] for row in document["repositories"]] == ["octo/one", "octo/two"]
    assert document["totals"]["repository"] == TOTAL and document["totals"]["merged"] == 2
    lines = render_table(outcomes)
    assert lines[0].split()[0] == "repository" and len(lines) == 4  # header, two, the total
    assert "1d 2h" in lines[1] and "30m" in lines[2] and "$4.00" in lines[3]
    assert render_table([]) == [
        "no pull request fixwright opened, and no review finding, in this period"
    ]


def test_a_repository_name_cannot_write_to_the_terminal() -> None:
    [line] = render_table([replace(BASE, repository="octo/\x1b[2Jx")])[1:]
    assert "\x1b" not in line


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (59, "0m"), (61 * 60, "1h 1m"), (3 * 86400 + 4 * 3600, "3d 4h")],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def test_findings_are_counted_per_repository_even_without_pull_requests() -> None:
    """fixwright reviews anyone's pull requests: a repository with findings and none of its own
    pull requests still has a row."""
    outcomes = [merged(1, 1, 1.0)]
    findings = {"octo/one": (4, 2), "octo/reviewed": (3, 0)}
    one, reviewed = per_repository(outcomes, findings)
    assert (one.findings_posted, one.findings_addressed) == (4, 2)
    assert (reviewed.repository, reviewed.opened, reviewed.findings_posted) == (
        "octo/reviewed",
        0,
        3,
    )
    document = stats_document(outcomes, 0.0, findings)
    assert document["totals"]["findings_posted"] == 7
    assert document["totals"]["findings_addressed"] == 2
    assert "2/4" in render_table(outcomes, findings)[1]
