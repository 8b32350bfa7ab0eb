"""The fake GitHub as one Starlette app (REST API and git hosting), and a uvicorn thread to serve it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.github import (
    api_apps,
    api_checks,
    api_compare,
    api_contents,
    api_hook_deliveries,
    api_issues,
    api_manifests,
    api_pulls,
    api_refs,
    api_review_comments,
    git_http,
    payloads,
)
from tests.fakes.github.auth import ApiError
from tests.fakes.github.records import RecordedRequest
from tests.fakes.github.state import GitHubState

RATE_LIMIT = 5000


class GitHubHeaders:
    """Adds GitHub's response headers, records each request, and applies injected faults."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: GitHubState | None = scope["app"].state.github
        if state is None:
            await JSONResponse(payloads.error("No GitHub state"), status_code=503)(
                scope, receive, send
            )
            return
        key = (scope["method"], scope["path"])
        state.arrivals.append((*key, time.monotonic()))
        if (pause := state.delays.get(key)) is not None:
            await asyncio.sleep(pause)
        query = scope.get("query_string", b"").decode()
        received = bytearray()

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received.extend(message.get("body", b""))
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # recorded before the client can see the answer, so tests never race the log
                record = RecordedRequest(
                    scope["method"], scope["path"], query, message["status"], bytes(received)
                )
                state.requests.append(record)
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                # GitHub's usual headers, unless the route (or an injected fault) set its own
                headers += [
                    (k.lower().encode(), v.encode())
                    for k, v in _headers(state).items()
                    if k.lower().encode() not in present
                ]
                message = {**message, "headers": headers}
                pending = state.after.get(key)
                if pending:
                    await asyncio.to_thread(pending.popleft())
            await send(message)

        queue = state.forced.get(key)
        if queue:
            forced = queue.popleft()
            body = forced.body if forced.body is not None else payloads.error("Server Error")
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = Response(
                content, forced.status, forced.headers, media_type="application/json"
            )
            await response(scope, receive_and_keep, send_with_headers)
        else:
            await self.app(scope, receive_and_keep, send_with_headers)


def _headers(state: GitHubState) -> dict[str, str]:
    used = len(state.requests)
    return {
        "Date": formatdate(time.time() + state.clock_offset, usegmt=True),
        "X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper(),
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Api-Version-Selected": "2022-11-28",
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": str(max(RATE_LIMIT - used, 1)),
        "X-RateLimit-Reset": str(int(time.time()) + 3600),
        "X-RateLimit-Used": str(used),
        "X-RateLimit-Resource": "core",
    }


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    """GitHub answers unknown routes and methods alike with a JSON 404."""
    if isinstance(exc, HTTPException) and exc.status_code not in (404, 405):
        return JSONResponse(payloads.error(str(exc.detail)), status_code=exc.status_code)
    return JSONResponse(payloads.error("Not Found"), status_code=404)


def create_app() -> Starlette:
    """The fake GitHub; set `app.state.github` to the GitHubState it should play."""
    app = Starlette(
        routes=[
            *api_apps.ROUTES,
            *api_issues.ROUTES,
            *api_pulls.ROUTES,
            *api_checks.ROUTES,
            *api_compare.ROUTES,
            *api_contents.ROUTES,
            *api_refs.ROUTES,
            *api_review_comments.ROUTES,
            *api_hook_deliveries.ROUTES,
            *api_manifests.ROUTES,
            *git_http.ROUTES,
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _not_found},
    )
    app.add_middleware(GitHubHeaders)
    app.state.github = None
    return app


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a background thread; yield its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # The fake sets `Date` itself (from its own, possibly skewed, clock).
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", date_header=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="fake-github", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake GitHub server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()
