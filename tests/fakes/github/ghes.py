"""The fake GitHub shaped like GitHub Enterprise Server: the REST API under `/api/v3` on one port,
git and the web root (every `html_url`, `clone_url`) on another.

On GHES the API lives at `https://ghe.example.com/api/v3` and git at `https://ghe.example.com`; two
ports make a request sent to the wrong root fail here instead of passing by luck. Each port answers
only its own share (anything else is GitHub's JSON 404), and records what it saw in `seen`. The
web root also has the new-App page a manifest is posted to; the conversion is on the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.github import payloads
from tests.fakes.github.fixtures import APP_ID, FakeGitHub, new_state
from tests.fakes.github.server import create_app, serve

API_PREFIX = "/api/v3"
# The web pages the fake serves on the web root: where a manifest is posted (app/setup_flow.py).
WEB_PAGES = re.compile(r"(/organizations/[^/]+)?/settings/apps/new")


@dataclass(frozen=True)
class Arrival:
    """One request as a port saw it: which port ("api" or "web"), the method and the full path."""

    port: str
    method: str
    path: str


@dataclass
class PortLog:
    """What each port of the two-port fake was asked, in order."""

    arrivals: list[Arrival] = field(default_factory=list)

    def paths(self, port: str) -> list[str]:
        return [a.path for a in self.arrivals if a.port == port]


async def _not_found(send: Send) -> None:
    body = json.dumps(payloads.error("Not Found")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiPort:
    """Serves the fake's REST API under `/api/v3` only (the prefix is stripped before routing), no git."""

    def __init__(self, app: ASGIApp, log: PortLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.log.arrivals.append(Arrival("api", scope["method"], path))
        inner = path[len(API_PREFIX) :]
        if not path.startswith(API_PREFIX + "/") or ".git/" in inner or WEB_PAGES.fullmatch(inner):
            await _not_found(send)  # neither git nor the web pages are served under the API
            return
        await self.app({**scope, "path": inner, "raw_path": inner.encode()}, receive, send)


class WebPort:
    """Serves git (`/{owner}/{repo}.git/...`) and the new-App page, as the web root does; the API
    is not here."""

    def __init__(self, app: ASGIApp, log: PortLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.log.arrivals.append(Arrival("web", scope["method"], path))
        if path.startswith("/api/") or not (".git/" in path or WEB_PAGES.fullmatch(path)):
            await _not_found(send)
            return
        await self.app(scope, receive, send)


@dataclass
class GhesServers:
    """The two-port fake for the whole test run: one app (one state at a time), two roots."""

    app: Starlette
    api_root: str  # e.g. http://127.0.0.1:1234/api/v3
    web_root: str  # e.g. http://127.0.0.1:5678
    log: PortLog


@pytest.fixture(scope="session")
def ghes_github_servers() -> Iterator[GhesServers]:
    """The GHES-shaped fake, served once; each test gives it a fresh state (see `ghes_github`)."""
    app = create_app()
    log = PortLog()
    with serve(ApiPort(app, log)) as api, serve(WebPort(app, log)) as web:
        yield GhesServers(app, api + API_PREFIX, web, log)


@pytest.fixture
def ghes_github(
    ghes_github_servers: GhesServers, app_private_key: str, tmp_path: Path
) -> Iterator[FakeGitHub]:
    """The GHES-shaped fake with a fresh state (see `new_state`); `.url` is the API, `.web_url` git."""
    servers = ghes_github_servers
    servers.log.arrivals.clear()
    state = new_state(tmp_path / "github", servers.api_root, app_private_key)
    state.web_url = servers.web_root
    servers.app.state.github = state
    yield FakeGitHub(
        url=servers.api_root,
        state=state,
        app_id=APP_ID,
        private_key=app_private_key,
        web_url=servers.web_root,
    )
    servers.app.state.github = None
