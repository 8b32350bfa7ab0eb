"""POST /webhooks/github as a plain ASGI app: the intake's rules (app/intake.py) over HTTP.

Not a Starlette route: this is the service's hottest path, and Starlette's request, routing,
middleware and response objects cost more per delivery than the durable write does
(docs/benchmarks.md). Errors keep the one JSON shape of every refusal.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson
from prometheus_client import Counter
from structlog.typing import FilteringBoundLogger

from app.errors import RequestRejected, error_body
from app.intake import MAX_BODY_BYTES, TOO_LARGE, Answer, Intake, accept
from app.log import get_logger
from app.metrics import Metrics
from app.routing import KNOWN_EVENTS

WEBHOOK_PATH = "/webhooks/github"
INTERNAL_ERROR = "the service failed to handle this request; see its log"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The sender hung up before the body arrived: nobody is left to answer."""


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last wins, as GitHub sends each once)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def read_capped_body(receive: Receive) -> bytes:
    """The raw body, refused as soon as it passes 25 MB (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestRejected(413, "payload_too_large", TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(send: Send, status: int, body: Mapping[str, Any]) -> None:
    content = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


class WebhookEndpoint:
    """The ASGI app for POST /webhooks/github; `intake_of` gives the Intake the lifespan built.

    A class, not a function, so that Starlette mounts it as an ASGI app as it is.
    """

    def __init__(self, intake_of: Callable[[], Intake]) -> None:
        self._intake_of = intake_of
        # The counter of each (event, outcome), looked up once rather than per delivery.
        self._counters: dict[tuple[str, str], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        intake = self._intake_of()
        headers = request_headers(scope)
        name = headers.get("x-github-event", "")
        try:
            answer = await accept(intake, headers, lambda: read_capped_body(receive))
        except ClientGone:  # nobody to answer, but a sender that keeps hanging up shows
            request_log(headers).info("webhook.abandoned")
            self._counter(intake.metrics, name, "abandoned").inc()
            return
        except RequestRejected as rejected:
            request_log(headers).warning(
                "webhook.rejected", status=rejected.status, reason=rejected.message
            )
            answer = Answer(
                rejected.status, error_body(rejected.code, rejected.message), rejected.code
            )
        except Exception as error:  # answered, logged and counted: never a bare 500
            request_log(headers).error("request.failed", path=WEBHOOK_PATH, error=repr(error))
            answer = Answer(500, error_body("internal_error", INTERNAL_ERROR), "internal_error")
        await send_json(send, answer.status, answer.body)
        self._counter(intake.metrics, name, answer.outcome).inc()
        intake.metrics.intake_seconds.observe(time.perf_counter() - started)

    def _counter(self, metrics: Metrics, event: str, outcome: str) -> Counter:
        key = (event if event in KNOWN_EVENTS else "unknown", outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = metrics.deliveries.labels(event=key[0], outcome=outcome)
        return counter


def request_log(headers: Mapping[str, str]) -> FilteringBoundLogger:
    """A logger for a request refused before its payload was read: the ids its headers claim."""
    return get_logger(
        delivery_id=headers.get("x-github-delivery"), event=headers.get("x-github-event") or None
    )
