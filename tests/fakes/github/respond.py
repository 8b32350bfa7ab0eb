"""What the fake's routes share: the state, request bodies, JSON answers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.github.auth import ApiError, authorize
from tests.fakes.github.records import AccessToken
from tests.fakes.github.state import GitHubState


def state_of(request: Request) -> GitHubState:
    """The state the running server currently plays (swapped per test)."""
    return request.app.state.github


def repo_name(request: Request) -> str:
    return f"{request.path_params['owner']}/{request.path_params['repo']}"


def number(request: Request, name: str = "number") -> int:
    return int(request.path_params[name])


def require(
    request: Request, permission: str, level: str, alternative: str | None = None
) -> AccessToken:
    """The caller's token, which must reach the path's repository with `permission` at `level`."""
    return authorize(
        state_of(request),
        request.headers.get("authorization"),
        repo_name(request),
        permission,
        level,
        alternative,
    )


async def body_of(request: Request) -> dict[str, Any]:
    """The JSON object in the request body ({} when empty); 400 like GitHub when malformed."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as failure:
        raise ApiError(400, "Problems parsing JSON") from failure
    if not isinstance(parsed, dict):
        raise ApiError(400, "Problems parsing JSON")
    return parsed


def required_field(body: dict[str, Any], name: str, resource: str) -> Any:
    """A field the endpoint cannot do without; 422 with GitHub's validation shape when missing."""
    if body.get(name) in (None, ""):
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": resource, "code": "missing_field", "field": name}],
        )
    return body[name]


def answer(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


def paginated(request: Request, items: list[Any]) -> Response:
    """One page of `items` (`page`, `per_page` as GitHub takes them) with a `Link` header."""
    per_page = min(int(request.query_params.get("per_page", 30)), 100)
    page = max(int(request.query_params.get("page", 1)), 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    response = answer(chunk)
    if page * per_page < len(items):
        following = request.url.include_query_params(page=page + 1, per_page=per_page)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response
