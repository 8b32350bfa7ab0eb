"""Per-key request counting in fixed windows (a minute and an hour by default): pure, with the
clock passed in.

The counts live in this process's memory: two service processes each allow a key its full
limits, and a restart starts every window again. That is enough for one node; a shared store
for the counts comes with the PostgreSQL engine.

Fixed windows (aligned to the clock: a minute starts at :00) keep the answer simple to state in
headers: how many are left, and when the count starts again. A refused request is not counted,
so a client that keeps retrying too early is not locked out longer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

MINUTE = 60
HOUR = 3600


@dataclass(frozen=True)
class Window:
    """At most `limit` requests in each `seconds`-long window."""

    limit: int
    seconds: int


@dataclass(frozen=True)
class Decision:
    """Whether the request may go on, and what the `X-RateLimit-*` headers say: the window
    nearest its limit (`reset_at` a Unix time; `retry_after` seconds, 0 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


@dataclass
class Count:
    window_start: float
    used: int = 0


@dataclass
class RateLimiter:
    """The counts of every key seen by this process, one per window length."""

    counts: dict[tuple[str, int], Count] = field(default_factory=dict)

    def hit(self, key_id: str, windows: Sequence[Window], now: float) -> Decision:
        """Count one request of `key_id` against every window, unless one is full."""
        current = [(window, self._count(key_id, window, now)) for window in windows]
        full = [(window, count) for window, count in current if count.used >= window.limit]
        if full:
            reset_at = max(count.window_start + window.seconds for window, count in full)
            window, count = max(full, key=lambda pair: pair[1].window_start + pair[0].seconds)
            return Decision(
                allowed=False,
                limit=window.limit,
                remaining=0,
                reset_at=math.ceil(reset_at),
                retry_after=max(1, math.ceil(reset_at - now)),
            )
        for _, count in current:
            count.used += 1
        window, count = min(current, key=lambda pair: pair[0].limit - pair[1].used)
        return Decision(
            allowed=True,
            limit=window.limit,
            remaining=window.limit - count.used,
            reset_at=math.ceil(count.window_start + window.seconds),
            retry_after=0,
        )

    def _count(self, key_id: str, window: Window, now: float) -> Count:
        start = now - now % window.seconds
        count = self.counts.get((key_id, window.seconds))
        if count is None or count.window_start != start:
            count = self.counts[(key_id, window.seconds)] = Count(start)
        return count

    def forget(self, key_id: str) -> None:
        """Drop a key's counts (a revoked key needs none)."""
        for seconds in {s for k, s in self.counts if k == key_id}:
            del self.counts[(key_id, seconds)]
