"""`GET /openapi.json`: the API's reference (OpenAPI 3.1), assembled from each API module's
`OPERATIONS` (and `SCHEMAS`, its components), so a route and its description live together."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.schemas import ERROR_SCHEMA, RATE_LIMIT_HEADERS, JsonSchema

OPENAPI_PATH = "/openapi.json"
VERSION = "1"
DESCRIPTION = """fixwright's task API: run Claude Code on a repository and follow what it does.

Authenticate with an API key (`fixwright keys create`) as `Authorization: Bearer fw_...`.
Every error has one shape, `{"error": {"code", "message", "details"?}, "request_id"}`.
Each key is rate limited (60 requests a minute and 1,000 an hour unless the key says otherwise);
every authenticated answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset`, and a refusal (429) carries `Retry-After`."""


def merge_paths(modules: Iterable[ModuleType]) -> dict[str, dict[str, Any]]:
    """Each module's operations; two modules describing the same operation is a bug."""
    paths: dict[str, dict[str, Any]] = {}
    for module in modules:
        for path, methods in getattr(module, "OPERATIONS", {}).items():
            described = paths.setdefault(path, {})
            for method, operation in methods.items():
                if method in described:
                    raise ValueError(f"{method.upper()} {path} is described twice")
                described[method] = operation
    return paths


def openapi_document(modules: Iterable[ModuleType]) -> JsonSchema:
    modules = tuple(modules)
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for module in modules:
        schemas.update(getattr(module, "SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "fixwright API", "version": VERSION, "description": DESCRIPTION},
        "paths": merge_paths(modules),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key from `fixwright keys create` (fw_<id>_<secret>)",
                }
            },
            "schemas": schemas,
            "headers": RATE_LIMIT_HEADERS,
        },
    }


def openapi_routes(modules: Iterable[ModuleType]) -> list[BaseRoute]:
    """The document's route; built once, since the modules do not change while serving."""
    document = openapi_document(modules)

    async def serve(request: Request) -> Response:
        del request
        return JSONResponse(document)

    return [Route(OPENAPI_PATH, serve, methods=["GET"])]
