"""Write pacing per installation, as GitHub asks of integrators: writes spaced out, never in a burst.

GitHub's secondary rate limits punish bursts of mutating requests from one installation, and
harder still bursts that create content (comments, issues, pull requests, reviews), which notify
people. Every GitHub client of an installation sends through one `InstallationPacer`, so jobs running
side by side share the spacing. Reads only share a bound on concurrent requests. Calls the App makes
as itself (minting tokens with its JWT) are not paced. The decision is a pure function of the clock
and the last calls (`seconds_to_wait`); the pacer only sleeps and keeps the time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

import httpx

MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# GitHub asks for requests of one installation to be made serially; a few reads may overlap.
MAX_CONCURRENT_REQUESTS = 4
# POSTs that create something people are notified of: issues, comments, pull requests, reviews.
CONTENT_PATHS = re.compile(
    r"^/repos/[^/]+/[^/]+/(?:"
    r"issues|issues/\d+/comments|pulls|pulls/\d+/reviews|pulls/\d+/comments"
    r"|pulls/\d+/comments/\d+/replies|commits/[^/]+/comments|discussions/\d+/comments"
    r")$"
)
# Calls about the App's own credentials, not the installation's content.
UNPACED_PATHS = re.compile(r"^/(?:app(?:/.*)?|installation/token)$")


class CallKind(StrEnum):
    READ = "read"
    WRITE = "write"  # mutating: at least the write interval after the previous write
    CONTENT = "content"  # a write that creates content: the content interval applies too
    UNPACED = "unpaced"


@dataclass(frozen=True)
class PacingRules:
    """The spacing GitHub asks for, in seconds between the starts of two calls."""

    write_interval: float = 1.0
    content_interval: float = 3.0


@dataclass(frozen=True)
class LastCalls:
    """When the installation's last write and last content-creating call started (None: never)."""

    write: float | None = None
    content: float | None = None


def call_kind(method: str, path: str, api_prefix: str = "") -> CallKind:
    """What kind of call `method path` is (the path as sent, with the API URL's own prefix)."""
    path = path.removeprefix(api_prefix.rstrip("/")) or "/"
    if UNPACED_PATHS.match(path):
        return CallKind.UNPACED
    method = method.upper()
    if method not in MUTATING_METHODS:
        return CallKind.READ
    if method == "POST" and CONTENT_PATHS.match(path):
        return CallKind.CONTENT
    return CallKind.WRITE


def seconds_to_wait(kind: CallKind, now: float, last: LastCalls, rules: PacingRules) -> float:
    """How long a call of `kind` must wait at `now` to keep the spacing after `last`."""
    if kind in (CallKind.READ, CallKind.UNPACED):
        return 0.0
    due = 0.0 if last.write is None else last.write + rules.write_interval
    if kind is CallKind.CONTENT and last.content is not None:
        due = max(due, last.content + rules.content_interval)
    return max(due - now, 0.0)


def after_call(kind: CallKind, started: float, last: LastCalls) -> LastCalls:
    """The last calls once a call of `kind` started at `started`."""
    if kind is CallKind.CONTENT:
        return LastCalls(write=started, content=started)
    if kind is CallKind.WRITE:
        return LastCalls(write=started, content=last.content)
    return last


class InstallationPacer:
    """Spaces one installation's writes and bounds its concurrent requests, for every client."""

    def __init__(
        self,
        rules: PacingRules,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_concurrent: int = MAX_CONCURRENT_REQUESTS,
    ) -> None:
        self.rules = rules
        self.last = LastCalls()
        self._clock = clock
        self._sleep = sleep
        self._writes = asyncio.Lock()  # one write at a time, in arrival order
        self._slots = asyncio.Semaphore(max_concurrent)

    @asynccontextmanager
    async def turn(self, kind: CallKind) -> AsyncIterator[None]:
        """Hold this while the call is sent: it starts only when the pacing allows."""
        if kind is CallKind.UNPACED:
            yield
            return
        async with self._slots:
            if kind is CallKind.READ:
                yield
                return
            async with self._writes:
                wait = seconds_to_wait(kind, self._clock(), self.last, self.rules)
                if wait > 0:
                    await self._sleep(wait)
                self.last = after_call(kind, self._clock(), self.last)
                yield


class PacedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request when its installation's pacer allows."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, pacer: InstallationPacer, api_prefix: str = ""
    ) -> None:
        self._inner = inner
        self._pacer = pacer
        self._api_prefix = api_prefix

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = call_kind(request.method, request.url.path, self._api_prefix)
        async with self._pacer.turn(kind):
            return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
