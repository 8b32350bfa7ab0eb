"""Findings fixwright's reviews posted, and those a later push addressed, in process: the review
job records what it posted, and `pull_request.synchronize` compares the reviewed commit with the
new head (through the fake GitHub's comparison) and marks the findings whose lines changed."""

from __future__ import annotations

from app.store import JobState
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.github.pull_events import synchronize_pull_request
from tests.fixtures.inprocess import Engine, finished
from tests.test_outcomes import deliver_and_run, sample
from tests.test_review import GREET_V2, OLD_LINE, UNDEFINED, UNTYPED, open_feature_pull
from tests.test_review_handler import GREET, request_review, review_run

# Line 6 of the reviewed greet.py, which the push below leaves as it is.
GREETING = {
    "path": GREET,
    "line": 6,
    "side": "RIGHT",
    "severity": "nit",
    "title": "Use an f-string",
    "body": "An f-string reads better here.",
}


def head_of(engine: Engine, branch: str) -> str:
    return gitrepo.branch_sha(engine.github.state.repositories[REPOSITORY].path, branch) or ""


async def test_a_push_that_rewrites_a_findings_line_addresses_it(engine: Engine) -> None:
    state = engine.github.state
    number = open_feature_pull(state)
    engine.script(review_run(UNDEFINED, UNTYPED, OLD_LINE, GREETING))
    finished(await request_review(engine, number), JobState.SUCCEEDED)
    assert sample(engine, "fixwright_review_findings_total", state="posted") == 4

    before = head_of(engine, "feature")
    fixed = GREET_V2.replace('"Bye " + nam\n', '"Bye " + name\n')
    state.push_branch(REPOSITORY, "feature", {GREET: fixed}, message="Fix the name")
    payload = synchronize_pull_request(state, REPOSITORY, number, before)
    [job] = await deliver_and_run(engine, "pull_request", payload)
    # Line 10 rewritten: the finding on it and the one on lines 9-10; not line 6, nor the
    # finding on a line the pull request had removed.
    assert finished(job, JobState.SUCCEEDED).summary == "2 of 4 open findings addressed"
    assert job.kind == "findings_check" and job.usage == {}
    assert sample(engine, "fixwright_review_findings_total", state="addressed") == 2
    left = await engine.store.open_review_findings(REPOSITORY, number)
    assert sorted((item.line, item.side) for item in left) == [(6, "LEFT"), (6, "RIGHT")]

    # A push that leaves the other lines alone addresses nothing more, and counts nothing twice.
    before = head_of(engine, "feature")
    state.push_branch(REPOSITORY, "feature", {"NOTES.md": "notes\n"}, message="Notes")
    again = synchronize_pull_request(state, REPOSITORY, number, before)
    [job] = await deliver_and_run(engine, "pull_request", again)
    assert job.summary == "0 of 2 open findings addressed"
    assert sample(engine, "fixwright_review_findings_total", state="addressed") == 2
    assert await engine.store.review_finding_counts(0) == {REPOSITORY: (4, 2)}


async def test_a_push_to_a_pull_request_without_findings_reads_nothing(engine: Engine) -> None:
    state = engine.github.state
    number = open_feature_pull(state)
    before = head_of(engine, "feature")
    state.push_branch(REPOSITORY, "feature", {"NOTES.md": "notes\n"})
    compares = len([r for r in state.requests if "/compare/" in r.path])
    payload = synchronize_pull_request(state, REPOSITORY, number, before)
    [job] = await deliver_and_run(engine, "pull_request", payload)
    assert finished(job, JobState.SUCCEEDED).summary == "no open finding"
    assert len([r for r in state.requests if "/compare/" in r.path]) == compares


async def test_a_push_never_draws_a_comment_when_the_repositorys_settings_are_invalid(
    engine: Engine,
) -> None:
    """Every push plans a check: the repository's settings file is not read, so an invalid one
    does not answer each push with a failure comment."""
    state = engine.github.state
    state.push_branch(REPOSITORY, "main", {".github/fixwright.yml": "model: [unclosed\n"})
    number = open_feature_pull(state)
    before = head_of(engine, "feature")
    state.push_branch(REPOSITORY, "feature", {"NOTES.md": "notes\n"})
    payload = synchronize_pull_request(state, REPOSITORY, number, before)
    [job] = await deliver_and_run(engine, "pull_request", payload)
    assert finished(job, JobState.SUCCEEDED).summary == "no open finding"
    assert state.issue_comments(REPOSITORY, number) == []
