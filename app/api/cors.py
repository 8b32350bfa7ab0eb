"""CORS for the API: browsers on the configured origins may call it; nobody else's page may.

No origin is allowed by default (`FIXWRIGHT_API_CORS_ORIGINS`). Keys travel in the
`Authorization` header, never in cookies, so credentials are never allowed. A preflight from an
allowed origin, for a method and headers the API takes, is answered 204 with the permissions; any
other preflight gets a 403 in the API's error shape and no permission, which the browser obeys.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from starlette.responses import JSONResponse, Response

from app.api.errors import error_body

Message = MutableMapping[str, Any]

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "idempotency-key",
    "last-event-id",
    "prefer",
    "x-request-id",
)
EXPOSED_HEADERS = (
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Location",
)
PREFLIGHT_MAX_AGE = "600"
ANY_ORIGIN = "*"


def header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class Cors:
    """Pure ASGI: answers preflights itself, adds the permission to allowed origins' answers."""

    def __init__(self, app: Any, origins: Sequence[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    def allowed(self, origin: str) -> bool:
        return ANY_ORIGIN in self.origins or origin in self.origins

    def permission(self, origin: str) -> list[tuple[bytes, bytes]]:
        granted = ANY_ORIGIN if ANY_ORIGIN in self.origins else origin
        return [
            (b"access-control-allow-origin", granted.encode("latin-1")),
            (b"vary", b"Origin"),
        ]

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        origin = header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None:
            await self.app(scope, receive, send)
            return
        requested = header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await self.preflight(scope, origin, requested)(scope, receive, send)
            return
        if not self.allowed(origin):
            await self.app(scope, receive, send)
            return
        added = [
            *self.permission(origin),
            (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode()),
        ]

        async def send_with_permission(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_permission)

    def preflight(self, scope: MutableMapping[str, Any], origin: str, method: str) -> Any:
        """204 with the permissions, or 403 saying what is refused."""
        asked = header(scope, b"access-control-request-headers") or ""
        headers = [h.strip().lower() for h in asked.split(",") if h.strip()]
        problem = ""
        if not self.allowed(origin):
            problem = f"the origin {origin[:200]!r} may not call this API"
        elif method.upper() not in ALLOWED_METHODS:
            problem = f"the method {method[:20]!r} is not one the API takes"
        elif refused := [h for h in headers if h not in ALLOWED_HEADERS]:
            problem = f"the header {refused[0][:100]!r} is not one the API takes"
        request_id = str(scope.get("state", {}).get("request_id", ""))
        if problem:
            return JSONResponse(error_body("cors_refused", problem, request_id), status_code=403)
        response = Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
                "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            },
        )
        for name, value in self.permission(origin):
            response.headers.append(name.decode(), value.decode())
        return response
