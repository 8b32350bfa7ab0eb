"""Adds `X-RateLimit-Limit`, `-Remaining`, `-Reset` (and `Retry-After` on a refusal) to every
answer of a request whose key was counted: `require_key` leaves its decision on
`request.state.rate_limit`, and this middleware writes it into the headers, whatever the route
answered (an error, a stream)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from app.api.rate_limit import Decision

Message = MutableMapping[str, Any]


class RateLimitHeaders:
    """Pure ASGI, so a streamed answer is not buffered."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_limits(message: Message) -> None:
            decision = state.get("rate_limit")
            if message["type"] == "http.response.start" and isinstance(decision, Decision):
                added = {name.lower().encode(): value for name, value in decision.headers().items()}
                kept = [h for h in message.get("headers", []) if h[0].lower() not in added]
                message["headers"] = [*kept, *((n, v.encode()) for n, v in added.items())]
            await send(message)

        await self.app(scope, receive, send_with_limits)
