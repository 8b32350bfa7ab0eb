"""A job's event log as Server-Sent Events: what the task API and the live job page stream.

Each stored event is one message (`id:` its sequence number, `event:` its kind, `data:` its JSON
on one line). The store is read from the last sequence number sent, so a stream resumed with
`Last-Event-ID` has no gap and no repeat; the event hub only says when to read again. A comment
line keeps a quiet stream open through proxies; the stream ends after a terminal event, when its
job has ended without one (a log pruned by retention, or older than typed events), at an optional
deadline, or when the client goes away.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.event_hub import EventHub
from app.job_events import TERMINAL_KINDS
from app.store import FINISHED_STATES, JobEvent, Store

HEARTBEAT_SECONDS = 15.0
HEARTBEAT = b": heartbeat\n\n"
MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_EVENT_ID = 2**63 - 1
ENCODED_KEPT = 4_096  # the latest events' messages, shared by the readers of a busy job
_encoded: OrderedDict[tuple[str, int], bytes] = OrderedDict()


def sse_message(event: JobEvent) -> bytes:
    """One event as an SSE message, encoded once for all its readers (a stored event never
    changes); JSON escapes every line break, so `data:` is one line."""
    key = (event.job_id, event.seq)
    message = _encoded.get(key)
    if message is None:
        data = json.dumps(dict(event.data), ensure_ascii=False, separators=(",", ":"))
        kind = "".join(c for c in event.kind if c.isprintable())
        message = f"id: {event.seq}\nevent: {kind}\ndata: {data}\n\n".encode()
        _encoded[key] = message
        while len(_encoded) > ENCODED_KEPT:
            _encoded.popitem(last=False)
    return message


def resume_point(header: str | None, query: str | None) -> int | None:
    """The sequence number to resume after, from `Last-Event-ID` (or `?last_event_id=`); 0 when
    neither is given, None when the one given is not a whole number in range."""
    text = header if header is not None else query
    if text is None or not text.strip():
        return 0
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_EVENT_ID:
        return None
    return int(text)


async def job_events(
    store: Store,
    hub: EventHub,
    job_id: str,
    after: int = 0,
    *,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    deadline: float | None = None,
) -> AsyncIterator[bytes]:
    """The job's events after `after`, then each new one as it is appended, with heartbeats;
    `deadline` (on `time.monotonic()`) ends the stream early."""
    last = after
    while True:
        events = await hub.read_once(job_id, last, partial(store.events, job_id, last))
        for event in events:
            yield sse_message(event)
            last = event.seq
            if event.kind in TERMINAL_KINDS:
                return
        wait = heartbeat_seconds
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return
        if not await hub.wait(job_id, last, wait):
            if not events and await ended_without_terminal(store, job_id, last):
                return
            if deadline is None or time.monotonic() < deadline:
                yield HEARTBEAT


async def ended_without_terminal(store: Store, job_id: str, last: int) -> bool:
    """The job has ended (or is gone) and nothing follows `last`: no terminal event will come."""
    job = await store.get_job(job_id)
    if job is not None and job.state not in FINISHED_STATES:
        return False
    return not await store.events(job_id, after=last)


class EventStreamResponse(StreamingResponse):
    """`text/event-stream`, uncached, ended as soon as the client disconnects (a waiting stream
    would otherwise notice only at its next write)."""

    def __init__(self, content: AsyncIterator[bytes]) -> None:
        super().__init__(content, media_type=MEDIA_TYPE, headers=HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def until_done(work: Callable[[], Awaitable[None]]) -> None:
                with contextlib.suppress(OSError):  # the client went away mid-write
                    await work()
                group.cancel_scope.cancel()

            group.start_soon(until_done, partial(self.stream_response, send))
            await until_done(partial(self.listen_for_disconnect, receive))
