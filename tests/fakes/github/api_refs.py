"""The fake's git reference and user endpoints: a branch's head commit, a user's public profile."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import gitrepo, payloads
from tests.fakes.github.auth import ApiError, bearer, installation_token, not_found
from tests.fakes.github.respond import answer, repo_name, require, state_of


async def get_ref(request: Request) -> Response:
    """`GET /repos/{o}/{r}/git/ref/heads/main`: a GitRef pointing at the commit."""
    require(request, "contents", "read")
    state = state_of(request)
    ref = request.path_params["ref"]
    if not ref.startswith(("heads/", "tags/")):
        raise not_found()
    path = state.repositories[repo_name(request)].path
    sha = await asyncio.to_thread(gitrepo.rev_parse, path, f"refs/{ref}")
    if sha is None:
        raise not_found()
    api = f"{state.base_url}/repos/{repo_name(request)}/git"
    return answer(
        {
            "ref": f"refs/{ref}",
            "node_id": payloads.node_id("REF", int(sha[:7], 16)),
            "url": f"{api}/refs/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{api}/commits/{sha}"},
        }
    )


async def get_user(request: Request) -> Response:
    """`GET /users/{login}`: the public profile (GitHub answers any valid token)."""
    state = state_of(request)
    credential = bearer(request.headers.get("authorization"))
    if credential is None:
        raise ApiError(401, "Requires authentication")
    installation_token(state, credential)
    login = request.path_params["login"]
    if login not in state.users:
        raise not_found()
    return answer(payloads.public_user(state, login))


ROUTES = [
    Route("/repos/{owner}/{repo}/git/ref/{ref:path}", get_ref, methods=["GET"]),
    Route("/users/{login}", get_user, methods=["GET"]),
]
