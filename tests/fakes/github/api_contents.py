"""The fake's contents endpoint: one file of a branch, read from the real bare repository."""

from __future__ import annotations

import asyncio
import base64

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import gitrepo
from tests.fakes.github.auth import not_found
from tests.fakes.github.respond import answer, repo_name, require, state_of


async def get_file(request: Request) -> Response:
    """GET a file's content (base64, as GitHub sends it); directories are not modelled."""
    require(request, "contents", "read")
    state = state_of(request)
    repo = state.repositories[repo_name(request)]
    path = request.path_params["path"]
    ref = request.query_params.get("ref") or repo.default_branch
    content = await asyncio.to_thread(gitrepo.read_file, repo.path, ref, path)
    if content is None:
        raise not_found()
    blob = await asyncio.to_thread(gitrepo.rev_parse_blob, repo.path, ref, path)
    api = f"{state.base_url}/repos/{repo.full_name}"
    html = f"{state.web_root}/{repo.full_name}/blob/{ref}/{path}"
    links = {"self": f"{api}/contents/{path}?ref={ref}", "git": f"{api}/git/blobs/{blob}"}
    raw = content.encode()
    return answer(
        {
            "type": "file",
            "encoding": "base64",
            "size": len(raw),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": base64.encodebytes(raw).decode(),
            "sha": blob,
            "url": links["self"],
            "git_url": links["git"],
            "html_url": html,
            "download_url": f"{state.web_root}/{repo.full_name}/raw/{ref}/{path}",
            "_links": {**links, "html": html},
        }
    )


ROUTES = [Route("/repos/{owner}/{repo}/contents/{path:path}", get_file, methods=["GET"])]
