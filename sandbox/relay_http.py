"""The model relay's wire rules, free of I/O: which paths pass, which headers, which errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from starlette.responses import Response

# The model API's own paths; the container may reach nothing else through the relay.
MODEL_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens"})

# Credentials the container might send: none of them may reach the upstream.
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})

# Hop-by-hop headers (RFC 9110 7.6.1) and those the HTTP client or server sets for itself.
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
    }
)
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


def upstream_headers(incoming: Iterable[tuple[str, str]], api_key: str) -> list[tuple[str, str]]:
    """The request's headers minus every credential and hop header, plus the real key.

    The upstream is asked for an unencoded body so the relay can read usage from the very bytes
    it passes on unchanged.
    """
    kept = [
        (name, value)
        for name, value in incoming
        if name.lower() not in CREDENTIAL_HEADERS and name.lower() not in HOP_HEADERS
    ]
    kept.append(("accept-encoding", "identity"))
    if api_key:
        kept.append(("x-api-key", api_key))
    return kept


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


def unknown_capability() -> Response:
    return api_error(
        401, "authentication_error", "fixwright: this job has ended or the token is not valid"
    )


def budget_spent(token_budget: int) -> Response:
    """400, not 429: the CLI retries 429 and 5xx for minutes, but takes a 400 as final."""
    return api_error(
        400,
        "invalid_request_error",
        f"fixwright: this job's token budget of {token_budget} tokens is spent",
    )


def upstream_unreachable(upstream_url: str, error: Exception) -> Response:
    return api_error(
        502,
        "api_error",
        f"fixwright: the model API at {upstream_url} could not be reached ({type(error).__name__})",
    )
