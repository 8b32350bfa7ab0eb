"""GitHub API calls survive GitHub's faults: 5xx and rate limits are retried, client errors are not."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from githubkit.exception import RequestFailed, SecondaryRateLimitExceeded
from githubkit.typing import RetryOption

from app.github_app import GitHubApp
from app.github_retry import RetryPolicy
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub

COMMENTS = f"/repos/{REPOSITORY}/issues/1/comments"
PERMISSIONS = {"issues": "write"}


def calls_to(fake_github: FakeGitHub, method: str, path: str) -> list[int]:
    return [r.status for r in fake_github.state.requests if r.method == method and r.path == path]


async def comment(fake_github: FakeGitHub, body: str = "hello") -> None:
    app = GitHubApp(fake_github.settings())
    async with app.for_job(INSTALLATION_ID, REPOSITORY, PERMISSIONS) as github:
        await github.rest.issues.async_create_comment("octo-org", "hello", 1, body=body)


async def test_a_502_then_success_posts_exactly_once(fake_github: FakeGitHub) -> None:
    """One 502 is retried after a short backoff; the comment exists once."""
    fake_github.state.fail_next("POST", COMMENTS, status=502)
    await comment(fake_github)
    assert calls_to(fake_github, "POST", COMMENTS) == [502, 201]
    assert len(fake_github.state.issue_comments(REPOSITORY, 1)) == 1


async def test_four_502s_give_up_after_three_retries(fake_github: FakeGitHub) -> None:
    """A persistent server error surfaces after three retries, not forever."""
    for _ in range(4):
        fake_github.state.fail_next("POST", COMMENTS, status=502)
    with pytest.raises(RequestFailed):
        await comment(fake_github)
    assert calls_to(fake_github, "POST", COMMENTS) == [502, 502, 502, 502]


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422])
async def test_client_errors_are_not_retried(fake_github: FakeGitHub, status: int) -> None:
    """A refusal is final: exactly one request is made."""
    fake_github.state.fail_next("POST", COMMENTS, status=status, body={"message": "no"})
    with pytest.raises(RequestFailed):
        await comment(fake_github)
    assert calls_to(fake_github, "POST", COMMENTS) == [status]


async def test_a_secondary_rate_limit_is_retried_after_retry_after_then_succeeds(
    fake_github: FakeGitHub,
) -> None:
    """403 with retry-after: 1 is retried once it has passed, and the comment is posted once."""
    fake_github.state.fail_next(
        "POST",
        COMMENTS,
        status=403,
        body={"message": "You have exceeded a secondary rate limit."},
        headers={"retry-after": "1"},
    )
    await comment(fake_github)
    assert calls_to(fake_github, "POST", COMMENTS) == [403, 201]
    assert len(fake_github.state.issue_comments(REPOSITORY, 1)) == 1


async def test_the_retry_waits_as_long_as_retry_after_says(fake_github: FakeGitHub) -> None:
    """The limit GitHub answered with retry-after: 2 is retried after two seconds, then four."""
    fake_github.state.fail_next(
        "POST",
        COMMENTS,
        status=403,
        body={"message": "You have exceeded a secondary rate limit."},
        headers={"retry-after": "2"},
    )
    app = GitHubApp(fake_github.settings(github_max_wait_seconds=1))  # too long: not waited
    async with app.for_job(INSTALLATION_ID, REPOSITORY, PERMISSIONS) as github:
        with pytest.raises(SecondaryRateLimitExceeded) as raised:
            await github.rest.issues.async_create_comment("octo-org", "hello", 1, body="hi")
    policy = RetryPolicy(max_wait=300)
    assert policy(raised.value, 0) == RetryOption(True, timedelta(seconds=2))
    assert policy(raised.value, 1) == RetryOption(True, timedelta(seconds=4))
    assert calls_to(fake_github, "POST", COMMENTS) == [403]


async def test_a_rate_limit_longer_than_allowed_fails_at_once(fake_github: FakeGitHub) -> None:
    """A primary limit resetting in an hour is not waited for: the call fails with the limit."""
    reset = int(time.time()) + 3600
    fake_github.state.fail_next(
        "POST",
        COMMENTS,
        status=403,
        body={"message": "API rate limit exceeded"},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    with pytest.raises(RequestFailed) as raised:
        await comment(fake_github)
    assert type(raised.value).__name__ == "PrimaryRateLimitExceeded"
    assert calls_to(fake_github, "POST", COMMENTS) == [403]
