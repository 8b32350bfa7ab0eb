"""When to retry a GitHub API call: network errors and 5xx with backoff, rate limits by GitHub's word.

Client errors (400, 403, 404, 410, 422) are final: retrying them only repeats the refusal. The one
exception is a 401 right after a token was minted, which GitHub can answer while the new token is
still propagating.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from githubkit.exception import (
    GitHubException,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    SecondaryRateLimitExceeded,
)
from githubkit.typing import RetryOption

MAX_SERVER_RETRIES = 3
MAX_RATE_LIMIT_RETRIES = 3
# GitHub asks integrators to wait at least a minute after a secondary limit without retry-after.
SECONDARY_LIMIT_MINIMUM_WAIT = 60.0
# How long after minting a 401 is taken for propagation rather than a bad token.
FRESH_TOKEN_SECONDS = 30.0

NO_RETRY = RetryOption(False)


def backoff(retry_count: int) -> timedelta:
    """1 s, 2 s, 4 s: short enough for a job, long enough for a blip to pass."""
    return timedelta(seconds=2**retry_count)


def rate_limit_wait(
    error: RateLimitExceeded,
    retry_count: int,
    secondary_minimum: float = SECONDARY_LIMIT_MINIMUM_WAIT,
) -> float:
    """Seconds to wait: until the reset (primary), or retry-after (secondary, at least a minute without it)."""
    wait = error.retry_after.total_seconds()
    if isinstance(error, SecondaryRateLimitExceeded):
        if "retry-after" not in error.response.headers:
            wait = max(wait, secondary_minimum)
        wait *= 2**retry_count  # back off further on each repeat
    return wait


@dataclass
class RetryPolicy:
    """githubkit's `auto_retry` decision for one client; `max_wait` caps a single rate-limit wait."""

    max_wait: float = 300.0
    secondary_minimum: float = SECONDARY_LIMIT_MINIMUM_WAIT
    minted_at: float = field(default_factory=time.monotonic)
    clock: Callable[[], float] = time.monotonic

    def __call__(self, error: GitHubException, retry_count: int) -> RetryOption:
        if isinstance(error, RateLimitExceeded):
            wait = rate_limit_wait(error, retry_count, self.secondary_minimum)
            if retry_count >= MAX_RATE_LIMIT_RETRIES or wait > self.max_wait:
                return NO_RETRY  # the caller fails the job, saying when the limit resets
            return RetryOption(True, timedelta(seconds=wait))
        if isinstance(error, RequestFailed):
            status = error.response.status_code
            if status >= 500 and retry_count < MAX_SERVER_RETRIES:
                return RetryOption(True, backoff(retry_count))
            if status == 401 and retry_count == 0 and self._token_is_fresh():
                return RetryOption(True, timedelta(seconds=1))
            return NO_RETRY
        if isinstance(error, RequestError) and retry_count < MAX_SERVER_RETRIES:
            return RetryOption(True, backoff(retry_count))
        return NO_RETRY

    def _token_is_fresh(self) -> bool:
        return self.clock() - self.minted_at < FRESH_TOKEN_SECONDS
