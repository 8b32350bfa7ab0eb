"""The outcomes' SQL on both engines: a pull request kept when opened, moved by changes in
GitHub's order, its follow-up rounds and cost from the conversation and the jobs, its reviews
and findings each kept once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.store import Conversation, Delivery, NewJob, Round
from app.store.outcomes import PostedFinding, PullRequestChange
from app.store.sql import SqlStore
from tests.pg import open_test_store

REPO = "octo/hello"
T0 = 1_800_000_000.0


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    opened = open_test_store(store_url, clock=lambda: T0)
    yield opened
    await opened.close()


async def job_on(store: SqlStore, delivery: str, target: str, cost: float) -> str:
    number = int(target.split("#")[1])
    job = NewJob("fix", REPO, target, 7, "octocat", {"event": "issues"}, number)
    [job_id] = await store.record_delivery(Delivery(delivery, "issues", "labeled"), [job]) or []
    await store.set_usage(job_id, {"cost_usd": cost, "input_tokens": 10})
    return job_id


async def test_a_pull_request_is_kept_moved_in_order_and_costed(store: SqlStore) -> None:
    opener = await job_on(store, "d1", f"{REPO}#1", 0.5)
    followup = await job_on(store, "d2", f"{REPO}#2", 0.25)
    await job_on(store, "d3", f"{REPO}#3", 9.0)  # another pull request's: not this one's cost
    await store.save_conversation(
        Conversation(
            REPO,
            "fixwright/issue-1",
            "session",
            b"",
            (Round(opener, "label", "octocat", "first"), Round(followup, "review", "x", "more")),
        )
    )
    assert await store.record_pull_request_opened(REPO, 2, "fixwright/issue-1", opener, 7)
    assert not await store.record_pull_request_opened(REPO, 2, "fixwright/issue-1", "other", 7)
    assert await store.pull_request_counts() == {"open": 1, "merged": 0, "closed": 0}

    closed = await store.record_pull_request_change(PullRequestChange(REPO, 2, "closed", T0 + 100))
    assert closed.outcome is not None and closed.outcome.state == "closed"
    reopened = await store.record_pull_request_change(
        PullRequestChange(REPO, 2, "reopened", T0 + 200)
    )
    assert reopened.outcome is not None and reopened.outcome.reopened == 1
    late = await store.record_pull_request_change(PullRequestChange(REPO, 2, "closed", T0 + 150))
    assert late.outcome is not None and late.outcome.state == "open"  # older than the reopen
    merged = await store.record_pull_request_change(
        PullRequestChange(REPO, 2, "closed", T0 + 3600, merged=True, merged_at=T0 + 3600)
    )
    assert merged.merged_now and merged.outcome is not None
    again = await store.record_pull_request_change(
        PullRequestChange(REPO, 2, "closed", T0 + 3600, merged=True, merged_at=T0 + 3600)
    )
    assert not again.merged_now  # a retried job counts the merge once
    outcome = merged.outcome
    assert (outcome.state, outcome.seconds_to_merge) == ("merged", 3600.0)
    assert outcome.followup_rounds == 1 and outcome.cost_usd == pytest.approx(0.75)
    assert await store.pull_request_counts() == {"open": 0, "merged": 1, "closed": 0}

    assert await store.record_pull_request_review(REPO, 2, 11, "approved", "ann", T0)
    assert not await store.record_pull_request_review(REPO, 2, 11, "approved", "ann", T0)
    assert not await store.record_pull_request_review(REPO, 3, 12, "approved", "ann", T0)
    [listed] = await store.pull_request_outcomes(T0 - 1, REPO)
    assert listed.approvals == 1 and listed.changes_requested == 0
    assert await store.pull_request_outcomes(T0 + 1) == []
    assert await store.pull_request_outcomes(0, "octo/other") == []
    nobody = await store.record_pull_request_change(PullRequestChange(REPO, 3, "closed", T0))
    assert nobody.outcome is None


async def test_findings_are_kept_once_and_addressed_once(store: SqlStore) -> None:
    findings = [
        PostedFinding("job", n, REPO, 4, "abc", "a.py", n, n, "RIGHT", "minor") for n in (1, 2)
    ]
    assert await store.record_review_findings(findings) == 2
    assert await store.record_review_findings(findings) == 0
    assert len(await store.open_review_findings(REPO, 4)) == 2
    assert await store.mark_findings_addressed([("job", 1)], "def") == 1
    assert await store.mark_findings_addressed([("job", 1)], "fed") == 0
    [left] = await store.open_review_findings(REPO, 4)
    assert left.position == 2
    assert await store.review_finding_counts(0) == {REPO: (2, 1)}
    assert await store.review_finding_counts(T0 + 1) == {}
