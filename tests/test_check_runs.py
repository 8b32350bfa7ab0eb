"""The `fixwright` check run: queued → in progress → completed, one per job, on the fix's base commit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from githubkit import GitHub

from app.github_app import GitHubApp
from handlers.common.check_runs import CHECK_NAME, CheckRun, branch_head_sha
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.github.records import CheckRun as FakeCheckRun

PERMISSIONS = {"checks": "write", "contents": "read"}


@pytest.fixture
async def github(fake_github: FakeGitHub) -> AsyncIterator[GitHub]:
    """An installation client for the fake's repository with the checks permission."""
    async with GitHubApp(fake_github.settings()).for_job(
        INSTALLATION_ID, REPOSITORY, PERMISSIONS
    ) as client:
        yield client


@pytest.fixture
def head_sha(fake_github: FakeGitHub) -> str:
    """The default branch's head commit."""
    sha = gitrepo.branch_sha(fake_github.state.repositories[REPOSITORY].path, "main")
    assert sha is not None
    return sha


def runs(fake_github: FakeGitHub) -> list[FakeCheckRun]:
    return list(fake_github.state.check_runs.values())


async def test_the_head_of_the_default_branch_is_read_from_github(
    github: GitHub, head_sha: str
) -> None:
    """The check run's commit is the default branch's head, as GitHub's git refs API reports it."""
    assert await branch_head_sha(github, REPOSITORY, "main") == head_sha


async def test_a_check_run_moves_from_queued_to_completed(
    fake_github: FakeGitHub, github: GitHub, head_sha: str
) -> None:
    """The check run is created queued, then shows progress, then completes with its summary."""
    check = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    [run] = runs(fake_github)
    assert (run.name, run.head_sha, run.external_id, run.status) == (
        CHECK_NAME,
        head_sha,
        "job-1",
        "queued",
    )
    assert check.id == run.id and check.html_url.endswith(f"/runs/{run.id}")

    assert await check.in_progress("Claude is working")
    assert (run.status, run.output["title"]) == ("in_progress", "Claude is working")

    assert await check.complete("success", "Draft pull request #2", "Added the missing comma.")
    assert (run.status, run.conclusion) == ("completed", "success")
    assert run.output == {"title": "Draft pull request #2", "summary": "Added the missing comma."}
    assert run.completed_at is not None


@pytest.mark.parametrize("conclusion", ["failure", "neutral", "cancelled"])
async def test_each_ending_has_its_conclusion(
    fake_github: FakeGitHub, github: GitHub, head_sha: str, conclusion: str
) -> None:
    """A failed, unchanged or cancelled job completes its check run with the matching conclusion."""
    check = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    assert await check.complete(conclusion, "fixwright could not finish", "Timed out.")
    [run] = runs(fake_github)
    assert (run.status, run.conclusion) == ("completed", conclusion)


async def test_a_retried_job_reuses_its_check_run(
    fake_github: FakeGitHub, github: GitHub, head_sha: str
) -> None:
    """A second attempt of the same job finds its check run by external id instead of adding one."""
    first = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    await first.in_progress("Claude is working")
    again = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    [run] = runs(fake_github)
    assert again.id == first.id == run.id
    assert run.status == "queued"


async def test_another_job_gets_its_own_check_run(
    fake_github: FakeGitHub, github: GitHub, head_sha: str
) -> None:
    """A new job on the same commit (a later `/fix`) adds its own check run next to the first."""
    first = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    second = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-2")
    assert first.id != second.id
    assert sorted(run.external_id or "" for run in runs(fake_github)) == ["job-1", "job-2"]


async def test_its_own_run_is_found_among_many_on_the_commit(
    fake_github: FakeGitHub, github: GitHub, head_sha: str
) -> None:
    """The job's run is found past the first page of check runs listed for the commit."""
    state = fake_github.state
    for index in range(120):
        run = FakeCheckRun(
            state.next_id(), REPOSITORY, CHECK_NAME, head_sha, external_id=f"j{index}"
        )
        state.check_runs[run.id] = run
    mine = FakeCheckRun(
        state.next_id() - 500, REPOSITORY, CHECK_NAME, head_sha, external_id="job-1"
    )
    state.check_runs[mine.id] = mine  # the oldest id, so it is listed last
    check = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    assert check.id == mine.id
    assert len(runs(fake_github)) == 121


async def test_github_refusing_the_check_run_does_not_fail_the_job(
    fake_github: FakeGitHub, github: GitHub, head_sha: str
) -> None:
    """A refused create is reported as False, and the next step creates the check run after all."""
    fake_github.state.fail_next("POST", f"/repos/{REPOSITORY}/check-runs", status=403)
    check = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    assert check.id is None and runs(fake_github) == []
    assert await check.complete("failure", "fixwright could not finish", "Push rejected.")
    [run] = runs(fake_github)
    assert (run.external_id, run.conclusion) == ("job-1", "failure")


async def test_an_unknown_conclusion_is_refused_before_reaching_github(
    fake_github: FakeGitHub, github: GitHub, head_sha: str
) -> None:
    """A conclusion outside the four a job can end with is a programming error, raised at once."""
    check = await CheckRun.start(github, REPOSITORY, head_sha=head_sha, job_id="job-1")
    with pytest.raises(ValueError):
        await check.complete("succeeded", "Done", "Done.")
    [run] = runs(fake_github)
    assert run.status == "queued"
