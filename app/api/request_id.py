"""`X-Request-ID`: the caller's id when it is a sane one, a new one otherwise, echoed on every
API answer, kept on `request.state.request_id`, and bound to the log's context for the request,
whose one `api.request` line carries it."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog

from app.log import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

HEADER = b"x-request-id"
MAX_LENGTH = 200
# Printable ASCII without spaces: the id goes into logs and headers as it is, so nothing that
# could split a line, a header or a terminal's output is taken from the caller.
ACCEPTED = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LENGTH)
MAX_LOGGED_PATH = 200


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's `X-Request-ID` if it is acceptable, else a new random one."""
    for name, value in headers:
        if name.lower() == HEADER and ACCEPTED.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI (no body buffering, so streamed answers stream): sets the id before the app
    runs and adds it to the answer's headers, then logs the request's one line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the log says if the app fails before it answers
        started = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER]
                message["headers"] = [*headers, (HEADER, request_id.encode("ascii"))]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                get_logger().info(
                    "api.request",
                    request_id=request_id,
                    method=str(scope.get("method", ""))[:20],
                    path=str(scope.get("path", ""))[:MAX_LOGGED_PATH],
                    status=status,
                    api_key=scope["state"].get("api_key_id", ""),
                    seconds=round(time.monotonic() - started, 4),
                )
