"""Git smart HTTP for the fake, served by the real `git http-backend` behind GitHub's token auth.

Anonymous access to public repositories is not modelled: every fetch must authenticate, so a
client that forgets its token fails here instead of passing silently.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.github import pull_heads
from tests.fakes.github.auth import basic_token
from tests.fakes.github.records import now
from tests.fakes.github.respond import state_of

CHALLENGE = {"WWW-Authenticate": 'Basic realm="GitHub"'}


def _service(request: Request) -> str:
    """Which git service the request is part of: git-upload-pack or git-receive-pack."""
    rest = request.path_params["rest"]
    if rest == "info/refs":
        return request.query_params.get("service", "git-upload-pack")
    return rest


def _refuse(request: Request) -> Response | None:
    """GitHub's answer when the credentials do not allow this fetch or push, else None."""
    state = state_of(request)
    full_name = f"{request.path_params['owner']}/{request.path_params['repo']}"
    secret = basic_token(request.headers.get("authorization"))
    if secret is None:
        return PlainTextResponse("", status_code=401, headers=CHALLENGE)
    token = state.tokens.get(secret)
    if token is None or not token.usable(now()):
        return PlainTextResponse(
            "Invalid username or token. Password authentication is not supported for Git "
            "operations.\n",
            status_code=401,
            headers=CHALLENGE,
        )
    if full_name not in state.repositories or full_name not in token.repositories:
        return PlainTextResponse("Repository not found.\n", status_code=404)
    level = "write" if _service(request) == "git-receive-pack" else "read"
    if not token.allows("contents", level):
        return PlainTextResponse(
            f"Permission to {full_name}.git denied to {state.bot_login}.\n", status_code=403
        )
    return None


async def smart_http(request: Request) -> Response:
    """Authenticate like GitHub, then hand the request to `git http-backend` as CGI."""
    if _service(request) not in ("git-upload-pack", "git-receive-pack"):
        return PlainTextResponse("Not Found\n", status_code=404)
    refused = _refuse(request)
    if refused is not None:
        return refused
    full_name = f"{request.path_params['owner']}/{request.path_params['repo']}"
    await asyncio.to_thread(pull_heads.sync_pull_refs, state_of(request), full_name)
    body = await request.body()
    # A blocking run in a thread: `communicate` there tolerates a backend that exits before
    # reading all of its input, whichever event loop serves the fake.
    process = await asyncio.to_thread(
        subprocess.run,
        ["git", "http-backend"],
        input=body,
        capture_output=True,
        env=_cgi_environment(request, len(body)),
        check=False,
    )
    if process.returncode != 0 and not process.stdout:
        return PlainTextResponse(process.stderr.decode(errors="replace"), status_code=500)
    return _cgi_response(process.stdout)


def _cgi_environment(request: Request, length: int) -> dict[str, str]:
    owner, repo, rest = (request.path_params[k] for k in ("owner", "repo", "rest"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(state_of(request).root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "PATH_INFO": f"/{owner}/{repo}.git/{rest}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "CONTENT_LENGTH": str(length),
        "REMOTE_USER": "x-access-token",
        "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    for header in ("content-encoding", "git-protocol"):
        if header in request.headers:
            env["HTTP_" + header.upper().replace("-", "_")] = request.headers[header]
    return env


def _cgi_response(output: bytes) -> Response:
    """Turn CGI output (headers, blank line, body) into an HTTP response."""
    crlf, lf = output.find(b"\r\n\r\n"), output.find(b"\n\n")
    if crlf != -1 and (lf == -1 or crlf < lf):
        head, body = output[:crlf], output[crlf + 4 :]
    else:
        head, body = output[:lf], output[lf + 2 :]
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    headers.pop("Content-Length", None)
    return Response(body, status_code=status, headers=headers)


ROUTES = [
    Route("/{owner}/{repo}.git/{rest:path}", smart_http, methods=["GET", "POST"]),
]
