"""One answer through the relay: sent upstream, passed back byte for byte, its tokens counted.

The answer's reservation is settled here: released once the answer is known to be whole, charged
in full when it is not (the upstream failed mid-way, the stream ended early, the client left).
Usage is always counted before the bytes that report it go out, so a job closed as soon as its
CLI has read the last answer is charged for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import structlog
from starlette.responses import Response
from starlette.types import Receive, Send
from structlog.typing import FilteringBoundLogger

from sandbox import relay_http
from sandbox.relay_budget import Ledger, Reservation
from sandbox.usage import JobUsage, UsageMeter

# Failures that mean the request never left: nothing can have been spent.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

log: FilteringBoundLogger = structlog.get_logger("fixwright.relay")


async def relay_answer(
    client: httpx.AsyncClient,
    outgoing: httpx.Request,
    send: Send,
    receive: Receive,
    *,
    ledger: Ledger,
    reservation: Reservation,
    on_unreachable: Callable[[Exception], Response],
    job_id: str,
) -> Response | None:
    """Send the request and pass its answer on; a response to send instead when there is none."""
    try:
        upstream = await client.send(outgoing, stream=True)
    except httpx.HTTPError as error:
        ledger.settle(reservation, complete=isinstance(error, NOT_SENT))
        return on_unreachable(error)
    ledger.count(reservation, JobUsage(requests=1))
    if not 200 <= upstream.status_code < 300:
        ledger.settle(reservation, complete=True)  # the model API charges nothing for an error
    try:
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status_code,
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in relay_http.downstream_headers(
                        upstream.status_code, upstream.headers.multi_items()
                    )
                ],
            }
        )
        await _until_client_leaves(_pass_body(upstream, send, ledger, reservation, job_id), receive)
    finally:
        charged = ledger.settle(reservation, complete=False)  # nothing, once the answer was whole
        if charged:
            log.warning("relay_answer_cut", job_id=job_id, charged_tokens=charged)
        await upstream.aclose()
    return None


async def _pass_body(
    upstream: httpx.Response, send: Send, ledger: Ledger, reservation: Reservation, job_id: str
) -> None:
    """Pass the body on as it arrives; settle the reservation as soon as the answer is whole.

    A stream's chunks go out as they come; a JSON body's last chunk is held back until the whole
    body has been read and counted.
    """
    meter = UsageMeter(upstream.headers.get("content-type", ""))
    held = b""
    try:
        async for chunk in upstream.aiter_raw():
            ledger.count(reservation, meter.feed(chunk))
            if meter.streamed:
                if meter.finished:
                    ledger.settle(reservation, complete=True)
                await _send_chunk(send, chunk)
                continue
            if held:
                await _send_chunk(send, held)
            held = chunk
        ledger.count(reservation, meter.finish())
        if meter.finished:
            ledger.settle(reservation, complete=True)
    except httpx.HTTPError as error:
        log.warning("relay_upstream_broke", job_id=job_id, error=type(error).__name__)
        return
    if held:
        await _send_chunk(send, held)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_chunk(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _until_client_leaves(passing: Coroutine[Any, Any, None], receive: Receive) -> None:
    """Run `passing` to its end, or cut it short when the client disconnects first."""
    body = asyncio.ensure_future(passing)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({body, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        body.cancel()  # nothing, when it has ended
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        with contextlib.suppress(asyncio.CancelledError):
            await body  # its own failure, if it failed, goes on up


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
