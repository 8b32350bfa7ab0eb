"""The API's own Starlette app, with the request id, CORS and rate-limit headers around every
answer and one error shape; the service's front door sends it every path under /v1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.routing import BaseRoute

from app.api.cors import Cors
from app.api.errors import EXCEPTION_HANDLERS
from app.api.openapi import OPENAPI_PATH, openapi_routes
from app.api.rate_limit_headers import RateLimitHeaders
from app.api.request_id import RequestIdMiddleware
from app.api.routes import ROUTE_MODULES, api_routes

API_PREFIX = "/v1"


def is_api_path(path: str) -> bool:
    """Whether the API answers this path (anything under /v1, and its description)."""
    return path in (OPENAPI_PATH, API_PREFIX) or path.startswith(API_PREFIX + "/")


def create_api(state: State, cors_origins: Sequence[str], extra: Sequence[BaseRoute] = ()) -> Any:
    """The API's ASGI app. It shares the service's `state` (`state.api` is its `ApiState`);
    `extra` are routes under /v1 that answer in their own way (approvals)."""
    api = Starlette(
        routes=[*api_routes(), *extra, *openapi_routes(ROUTE_MODULES)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    api.state = state
    # Outermost first: the id is set before anything answers, so every answer carries it.
    return RequestIdMiddleware(Cors(RateLimitHeaders(api), cors_origins))
