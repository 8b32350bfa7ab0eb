"""The fake's App endpoints: the App, its installations, installation tokens, repositories."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import payloads
from tests.fakes.github.auth import (
    ApiError,
    bearer,
    installation_token,
    not_found,
    verify_app_jwt,
)
from tests.fakes.github.records import PERMISSION_LEVELS, Installation
from tests.fakes.github.respond import answer, body_of, no_content, repo_name, require, state_of
from tests.fakes.github.state import GitHubState

NOT_IN_INSTALLATION = (
    "There is at least one repository that does not exist or is not accessible to the parent "
    "installation."
)
NOT_GRANTED = "The permissions requested are not granted to this installation."
ROLE_TO_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


def _app_caller(request: Request) -> GitHubState:
    state = state_of(request)
    verify_app_jwt(state, request.headers.get("authorization"))
    return state


def _installation(state: GitHubState, request: Request) -> Installation:
    found = state.installations.get(int(request.path_params["installation_id"]))
    if found is None:
        raise not_found()
    return found


async def get_app(request: Request) -> Response:
    return answer(payloads.app(_app_caller(request)))


async def get_installation(request: Request) -> Response:
    state = _app_caller(request)
    return answer(payloads.installation(state, _installation(state, request)))


async def get_repo_installation(request: Request) -> Response:
    state = _app_caller(request)
    name = repo_name(request)
    for candidate in state.installations.values():
        if name in candidate.repositories and name in state.repositories:
            return answer(payloads.installation(state, candidate))
    raise not_found()


async def create_access_token(request: Request) -> Response:
    state = _app_caller(request)
    installation = _installation(state, request)
    body = await body_of(request)
    repositories = _scoped_repositories(state, installation, body)
    permissions = _scoped_permissions(installation, body.get("permissions"))
    token = state.mint_token(
        installation,
        repositories=repositories or tuple(installation.repositories),
        permissions=permissions,
        requested_repositories=repositories,
        requested_permissions=body.get("permissions"),
    )
    return answer(payloads.access_token(state, token), status=201)


def _scoped_repositories(
    state: GitHubState, installation: Installation, body: dict[str, Any]
) -> tuple[str, ...] | None:
    """The full names the token is limited to, or None when the request does not limit it."""
    names = body.get("repositories")
    ids = body.get("repository_ids")
    if names is None and ids is None:
        return None
    by_id = {repo.id: repo.full_name for repo in state.repositories.values()}
    wanted = [f"{installation.account}/{name}" for name in names or []]
    wanted += [by_id.get(number, f"#{number}") for number in ids or []]
    if any(
        name not in installation.repositories or name not in state.repositories for name in wanted
    ):
        raise ApiError(422, NOT_IN_INSTALLATION)
    return tuple(dict.fromkeys(wanted))


def _scoped_permissions(installation: Installation, requested: Any) -> dict[str, str]:
    """The token's permissions: what was asked (each within the installation's), else all."""
    if requested is None:
        return dict(installation.permissions)
    if not isinstance(requested, dict):
        raise ApiError(422, "Invalid request.\n\nFor 'properties/permissions', is not an object.")
    for name, level in requested.items():
        granted = installation.permissions.get(name)
        if level not in PERMISSION_LEVELS or granted is None:
            raise ApiError(422, NOT_GRANTED)
        if PERMISSION_LEVELS[level] > PERMISSION_LEVELS[granted]:
            raise ApiError(422, NOT_GRANTED)
    return {"metadata": "read", **requested}


async def revoke_token(request: Request) -> Response:
    token = installation_token(state_of(request), bearer(request.headers.get("authorization")))
    token.revoked = True
    return no_content()


async def get_repository(request: Request) -> Response:
    require(request, "metadata", "read")
    state = state_of(request)
    return answer(payloads.repository(state, state.repositories[repo_name(request)], full=True))


async def get_collaborator_permission(request: Request) -> Response:
    require(request, "metadata", "read")
    state = state_of(request)
    login = request.path_params["username"]
    role = state.collaborator_permissions.get((repo_name(request), login), "read")
    collaborator = {
        **payloads.user(state, login),
        "role_name": role,
        "permissions": {
            "admin": role == "admin",
            "maintain": role in ("admin", "maintain"),
            "push": role in ("admin", "maintain", "write"),
            "triage": role in ("admin", "maintain", "write", "triage"),
            "pull": role != "none",
        },
    }
    return answer({"permission": ROLE_TO_PERMISSION[role], "role_name": role, "user": collaborator})


ROUTES = [
    Route("/app", get_app, methods=["GET"]),
    Route("/app/installations/{installation_id:int}", get_installation, methods=["GET"]),
    Route(
        "/app/installations/{installation_id:int}/access_tokens",
        create_access_token,
        methods=["POST"],
    ),
    Route("/installation/token", revoke_token, methods=["DELETE"]),
    Route("/repos/{owner}/{repo}", get_repository, methods=["GET"]),
    Route("/repos/{owner}/{repo}/installation", get_repo_installation, methods=["GET"]),
    Route(
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
        get_collaborator_permission,
        methods=["GET"],
    ),
]
