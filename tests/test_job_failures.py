"""A failed job tells its GitHub thread why, in words, with the next step; what no thread can hear
goes to the operator's log. In process, on the scripted sandbox."""

from __future__ import annotations

from typing import Any

from app.store import JobState
from tests.corpus import MAINTAINER, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fakes.github.silent import silent_github
from tests.fixtures.inprocess import Engine, EngineFactory, finished, log_events


async def test_a_job_that_fails_says_so_in_the_thread(engine: Engine) -> None:
    """When GitHub refuses the job's first call, the issue gets a comment with the reason and a retry hint."""
    permission = f"/repos/{REPOSITORY}/collaborators/{MAINTAINER}/permission"
    engine.github.state.fail_next("GET", permission, status=403)
    job = finished(
        await engine.run_delivery("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1)),
        JobState.FAILED,
    )

    [comment] = engine.github.state.comments.values()
    assert "could not finish this fix job" in comment.body
    assert f"answered 403 to GET {permission}" in comment.body
    assert "`/fix`" in comment.body and comment.issue_number == 1
    assert "GitHub API error" in job.summary
    assert engine.sandbox.specs == []


async def test_a_job_github_will_not_authorize_fails_with_the_operators_remedy_logged(
    engine: Engine, logged: list[dict[str, Any]]
) -> None:
    """A delivery for a repository the installation does not cover fails, and the log says what to change."""
    job = finished(
        await engine.run_delivery(
            "issues", labeled_issue("octo-org/elsewhere", INSTALLATION_ID, 4)
        ),
        JobState.FAILED,
    )

    assert "octo-org/elsewhere" in job.summary
    [remedy] = log_events(logged, "job.github_auth_failed")
    assert remedy["log_level"] == "error" and "octo-org/elsewhere" in remedy["remedy"]
    assert engine.github.state.comments == {}


async def test_a_github_that_never_answers_ends_the_job_instead_of_holding_it(
    make_engine: EngineFactory,
) -> None:
    """Each GitHub request gives up after FIXWRIGHT_GITHUB_TIMEOUT_SECONDS, so a hung GitHub
    fails the job (its retries spent) rather than holding it and its worker for good."""
    with silent_github() as url:
        engine = await make_engine(github_api_url=url, github_timeout_seconds=1)
        job = finished(
            await engine.run_delivery("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1)),
            JobState.FAILED,
        )

    assert "Cannot reach GitHub" in job.summary and "ReadTimeout" in job.summary, job.summary
