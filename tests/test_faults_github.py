"""The fix job under GitHub's faults at PR creation: a blip is retried, an outage and a rate limit are explained.

In process, on the scripted sandbox: the GitHub client, its retry policy and the fake GitHub are real.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from githubkit.exception import SecondaryRateLimitExceeded

from app.failure import FAILURE_MARKER
from app.github_app import GitHubApp
from app.github_retry import RetryPolicy
from app.store import Job, JobState
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import label_delivery, progress_comments

PULLS = f"/repos/{REPOSITORY}/pulls"
SECONDARY_LIMIT = {"message": "You have exceeded a secondary rate limit. Please wait."}


def statuses(fake_github: FakeGitHub, method: str, path: str) -> list[int]:
    """The statuses GitHub answered `method path` with, in order."""
    return [r.status for r in fake_github.state.requests if (r.method, r.path) == (method, path)]


def failure_comments(fake_github: FakeGitHub) -> list[str]:
    return [
        c.body
        for c in fake_github.state.issue_comments(REPOSITORY, 1)
        if c.body.startswith(FAILURE_MARKER)
    ]


def secondary_limit_headers() -> dict[str, str]:
    """A secondary limit as GitHub sends it without `retry-after`: remaining 0, reset soon."""
    return {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 5)}


async def run_fix(engine: Engine) -> Job:
    """The scripted fix for issue 1, run to its end."""
    engine.script(the_fix(engine))
    return await engine.run_delivery("issues", label_delivery(engine.github))


async def test_a_502_then_200_on_pr_creation_opens_one_pull_request(engine: Engine) -> None:
    """GitHub fails the PR creation once: the retry opens it, and there is exactly one."""
    engine.github.state.fail_next("POST", PULLS, status=502)
    finished(await run_fix(engine), JobState.SUCCEEDED)

    assert statuses(engine.github, "POST", PULLS) == [502, 201]
    assert len(engine.github.state.pulls) == 1
    [comment] = progress_comments(engine.github)
    assert "opened a draft pull request" in comment.body
    assert failure_comments(engine.github) == []


async def test_four_502s_on_pr_creation_fail_the_job_with_a_github_api_error(
    engine: Engine,
) -> None:
    """GitHub keeps failing: after three retries the job fails, said in the thread and the job record."""
    for _ in range(4):
        engine.github.state.fail_next("POST", PULLS, status=502)
    job = finished(await run_fix(engine), JobState.FAILED)

    assert statuses(engine.github, "POST", PULLS) == [502, 502, 502, 502]
    assert engine.github.state.pulls == {}
    [body] = failure_comments(engine.github)  # posted once the API answered again
    assert "GitHub API error" in body and "502" in body and f"POST {PULLS}" in body
    assert "Comment `/fix` to try again." in body
    assert "GitHub API error" in job.summary


async def test_a_secondary_limit_longer_than_the_job_may_wait_fails_it_with_the_rate_limit(
    make_engine: EngineFactory,
) -> None:
    """A secondary limit without retry-after means a minute or more: past a 5 s allowance the job fails saying so."""
    engine = await make_engine(github_max_wait_seconds=5)
    engine.github.state.fail_next(
        "POST", PULLS, status=403, body=SECONDARY_LIMIT, headers=secondary_limit_headers()
    )
    job = finished(await run_fix(engine), JobState.FAILED)

    assert statuses(engine.github, "POST", PULLS) == [403]  # not retried: the wait is too long
    assert engine.github.state.pulls == {}
    [body] = failure_comments(engine.github)
    assert "rate limit" in body and "Wait until" in body
    assert "rate limit" in job.summary


async def test_a_secondary_limit_without_retry_after_waits_at_least_a_minute(
    fake_github: FakeGitHub,
) -> None:
    """GitHub's own reset says 5 s, but a secondary limit without retry-after is waited out for 60 s or more."""
    fake_github.state.fail_next(
        "POST",
        f"/repos/{REPOSITORY}/issues/1/comments",
        status=403,
        body=SECONDARY_LIMIT,
        headers=secondary_limit_headers(),
    )
    app = GitHubApp(fake_github.settings(github_max_wait_seconds=5))
    async with app.for_job(INSTALLATION_ID, REPOSITORY, {"issues": "write"}) as github:
        with pytest.raises(SecondaryRateLimitExceeded) as raised:
            await github.rest.issues.async_create_comment("octo-org", "hello", 1, body="hi")

    assert raised.value.retry_after <= timedelta(seconds=6)  # what the headers alone say
    decision = RetryPolicy(max_wait=300)(raised.value, 0)
    assert decision.do_retry and decision.retry_after >= timedelta(seconds=60)
    assert fake_github.state.issue_comments(REPOSITORY, 1) == []
