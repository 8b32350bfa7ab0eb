"""The model relay's wire rules, free of I/O: which paths pass, which headers, which errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from starlette.responses import Response

from sandbox.relay_budget import RETRY_AFTER_SECONDS

# The model API's own paths; the container may reach nothing else through the relay.
MODEL_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})

RESPONSE_DROPPED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "trailer", "upgrade", "date", "server"}
)
KEY_REFUSED = frozenset({401, 403})


def capability_of(headers: Mapping[str, str]) -> str:
    """The capability token a request presents, from `x-api-key` or `Authorization: Bearer`."""
    token = headers.get("x-api-key", "").strip()
    if token:
        return token
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def declared_length(headers: Mapping[str, str]) -> int:
    """The body size a request announces (0 when it announces none, or nonsense)."""
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else 0


def downstream_headers(status: int, upstream: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream response's headers as the container should see them.

    When the upstream refuses the key (401/403) the CLI would retry for minutes, though only the
    operator can fix that; `x-should-retry: false` makes it stop at once. The body is untouched.
    """
    kept = [(name, value) for name, value in upstream if name.lower() not in RESPONSE_DROPPED]
    if status in KEY_REFUSED:
        kept = [(name, value) for name, value in kept if name.lower() != "x-should-retry"]
        kept.append(("x-should-retry", "false"))
    return kept


def api_error(status: int, error_type: str, message: str) -> Response:
    """An error in the model API's own shape, so the CLI reports it as it would the API's.

    `x-should-retry: false` tells the client SDK not to retry what retrying cannot fix.
    """
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    headers = {"x-should-retry": "false"} if status < 500 else {}
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def not_found(method: str, path: str) -> Response:
    return api_error(
        404,
        "not_found_error",
        f"fixwright: the model relay only passes POST /v1/messages and "
        f"POST /v1/messages/count_tokens, not {method} {path}",
    )


def no_room(status: int, message: str) -> Response:
    """A request the budgets have no room for: final (400, which the CLI does not retry, though
    it retries 429 and 5xx for minutes), or a 429 it retries after a second."""
    if status != 429:
        return api_error(status, "invalid_request_error", message)
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": message}}
    return Response(
        json.dumps(body),
        status_code=429,
        media_type="application/json",
        headers={"retry-after": str(RETRY_AFTER_SECONDS), "x-should-retry": "true"},
    )


def upstream_unreachable(upstream_url: str, error: Exception) -> Response:
    return api_error(
        502,
        "api_error",
        f"fixwright: the model API at {upstream_url} could not be reached ({type(error).__name__})",
    )
