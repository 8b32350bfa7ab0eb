"""Wakes the live readers of a job's event log when an event is appended.

The store holds the events; the hub only says "read again". It remembers the highest sequence
number appended per job, so a reader that read up to `after_seq` and then waits is woken at once
when something was appended in between: no wake-up is lost. A reader also re-reads the store when
its wait times out, which covers events appended by another process (which this hub never sees).
Everything runs on the service's event loop: `notify` is called there, after the append commits.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

# Jobs whose latest sequence number is remembered; the least recently appended-to are forgotten
# first. A reader of a forgotten job is woken by its next event, or re-reads at its timeout.
REMEMBERED_JOBS = 10_000

T = TypeVar("T")


class EventHub:
    """In-process fan-out of "job X has new events" to the readers waiting on X."""

    def __init__(self, remembered_jobs: int = REMEMBERED_JOBS) -> None:
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._remembered = remembered_jobs
        self._reads: dict[tuple[str, int], asyncio.Future[Any]] = {}

    async def read_once(self, job_id: str, after: int, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`, shared by every reader of the job that asks for the events after the same
        sequence number while it runs: readers woken together make one store query, not one
        each. One that joins a read begun before an append may miss that event in this answer;
        the hub already knows of it, so its next wait returns at once and it reads again."""
        key = (job_id, after)
        pending = self._reads.get(key)
        if pending is None:
            pending = asyncio.ensure_future(read())
            self._reads[key] = pending
            pending.add_done_callback(lambda _: self._reads.pop(key, None))
        result: T = await asyncio.shield(pending)
        return result

    def notify(self, job_id: str, seq: int) -> None:
        """Event `seq` of the job has been appended (and committed)."""
        self._latest[job_id] = max(seq, self._latest.get(job_id, 0))
        self._latest.move_to_end(job_id)
        while len(self._latest) > self._remembered:
            self._latest.popitem(last=False)
        for waiter in self._waiters.pop(job_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def latest(self, job_id: str) -> int:
        """The highest sequence number notified for the job (0 when none or forgotten)."""
        return self._latest.get(job_id, 0)

    # The timeout is the wait's meaning (a reader re-reads the store when it passes), not a guard.
    async def wait(self, job_id: str, after_seq: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Until an event after `after_seq` is appended (True) or `timeout` passes (False)."""
        if self._latest.get(job_id, 0) > after_seq:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(job_id, set())
        waiting.add(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            return bool(done)
        finally:
            waiting.discard(waiter)
            if not waiting and self._waiters.get(job_id) is waiting:
                del self._waiters[job_id]
            if not waiter.done():
                waiter.cancel()

    def readers(self, job_id: str) -> int:
        """How many readers wait on the job now."""
        return len(self._waiters.get(job_id, ()))
