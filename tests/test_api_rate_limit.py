"""The API's rate-limit counting (pure): fixed windows per key, with the clock given."""

from __future__ import annotations

from app.api.rate_limit import HOUR, MINUTE, RateLimiter, Window

START = 1_800_000_000.0 - 1_800_000_000.0 % HOUR
WINDOWS = (Window(3, MINUTE), Window(5, HOUR))


def test_requests_count_down_to_the_limit_then_are_refused_until_the_window_ends() -> None:
    """Three a minute: remaining 2, 1, 0, then refused with the seconds left in the minute."""
    limiter = RateLimiter()
    decisions = [limiter.hit("k", WINDOWS, START + 10 + i) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert (refused.limit, refused.reset_at, refused.retry_after) == (3, START + 60, 47)
    assert refused.headers()["Retry-After"] == "47"
    assert "Retry-After" not in decisions[0].headers()
    assert limiter.hit("k", WINDOWS, START + 60).allowed


def test_a_refused_request_is_not_counted() -> None:
    """Retrying too early does not use up the next window or the hour."""
    limiter = RateLimiter()
    for _ in range(3):
        limiter.hit("k", WINDOWS, START)
    for _ in range(10):
        assert not limiter.hit("k", WINDOWS, START + 30).allowed
    allowed = limiter.hit("k", WINDOWS, START + 61)
    assert allowed.allowed
    assert (allowed.limit, allowed.remaining) == (5, 1)  # the hour is now nearest its limit


def test_the_hour_refuses_until_its_end_even_in_a_fresh_minute() -> None:
    """Five an hour spread over minutes: the sixth is refused until the hour ends."""
    limiter = RateLimiter()
    for minute in range(5):
        assert limiter.hit("k", WINDOWS, START + minute * MINUTE).allowed
    refused = limiter.hit("k", WINDOWS, START + 10 * MINUTE)
    assert not refused.allowed
    assert (refused.limit, refused.reset_at, refused.retry_after) == (5, START + HOUR, 3000)


def test_the_headers_report_the_window_nearest_its_limit() -> None:
    """With plenty left in the minute but little in the hour, the hour's figures are given."""
    limiter = RateLimiter()
    windows = (Window(60, MINUTE), Window(2, HOUR))
    first = limiter.hit("k", windows, START + 5)
    assert (first.limit, first.remaining, first.reset_at) == (2, 1, START + HOUR)
    roomy = RateLimiter().hit("k", (Window(60, MINUTE), Window(1000, HOUR)), START + 5)
    assert (roomy.limit, roomy.remaining, roomy.reset_at) == (60, 59, START + 60)


def test_each_key_is_counted_on_its_own_and_a_forgotten_key_starts_again() -> None:
    limiter = RateLimiter()
    for _ in range(3):
        limiter.hit("a", WINDOWS, START)
    assert not limiter.hit("a", WINDOWS, START).allowed
    assert limiter.hit("b", WINDOWS, START).allowed
    limiter.forget("a")
    assert limiter.hit("a", WINDOWS, START).remaining == 2


def test_a_window_never_gives_a_retry_after_of_zero() -> None:
    """Refused in the last fraction of a second: Retry-After is at least 1."""
    limiter = RateLimiter()
    for _ in range(3):
        limiter.hit("k", WINDOWS, START + 59.5)
    assert limiter.hit("k", WINDOWS, START + 59.9).retry_after == 1
