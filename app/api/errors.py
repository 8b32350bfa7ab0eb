"""The API's one error shape: `{"error": {"code", "message", "details"?}, "request_id"}`.

A route raises `ApiError`; the API's exception handlers render it, and turn Starlette's own
404 and 405 (and any unexpected exception, as a 500 with no detail) into the same shape, so a
client parses one kind of error body from every `/v1` answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.audit_query import REPOSITORY
from app.log import get_logger

# Starlette's statuses, named as the API names its own errors.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}
INTERNAL_MESSAGE = "the service failed to answer this request; it is logged with the request id"


class ApiError(Exception):
    """A request the API refuses: its status, a stable code, a sentence for people, and per-field
    details (`[{"field": ..., "problem": ...}]` for validation errors)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def request_id_of(request: Request) -> str:
    """The request's id as the request-id middleware set it ("" outside the API's stack)."""
    return str(getattr(request.state, "request_id", ""))


def error_body(
    code: str, message: str, request_id: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The one error shape; `details` only when there are some."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error, "request_id": request_id}


def error_response(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, request_id_of(request), error.details),
        status_code=error.status,
        headers=error.headers,
    )


async def api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(request, error)


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's 404 and 405 (and any HTTPException) in the API's shape."""
    assert isinstance(error, HTTPException)
    status = error.status_code
    code = HTTP_CODES.get(status, "http_error")
    path = request.url.path[:200]
    message = {
        404: f"no API route at {path}: see /openapi.json",
        405: f"{request.method[:20]} is not allowed on {path}",
    }.get(status, str(error.detail)[:200])
    headers = dict(error.headers or {})
    return error_response(request, ApiError(status, code, message, headers=headers))


async def server_error(request: Request, error: Exception) -> Response:
    """A bug, never bad input: logged with the request id, answered without any detail."""
    get_logger().error(
        "api.failed",
        request_id=request_id_of(request),
        path=request.url.path[:200],
        error=repr(error)[:500],
    )
    return error_response(request, ApiError(500, "internal_error", INTERNAL_MESSAGE))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error,
    HTTPException: http_error,
    Exception: server_error,
}


def filter_problems(params: Mapping[str, str], known: tuple[str, ...]) -> list[dict[str, str]]:
    """A listing's query parameters that are unknown, and a `repository` not `owner/name`."""
    problems = [
        {"field": name[:40], "problem": f"unknown parameter (known: {', '.join(known)})"}
        for name in params
        if name not in known
    ]
    repository = params.get("repository", "")
    if repository and not REPOSITORY.fullmatch(repository):
        problems.append({"field": "repository", "problem": "must be owner/name"})
    return problems
