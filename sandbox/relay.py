"""The model relay: the sandbox's only way out, swapping per-job capabilities for the real key.

It listens on a Unix socket on the host that is bind-mounted into the container. A request must
present its job's capability token; the relay swaps it for the real key, forwards the request to
the upstream model API, passes the response back byte for byte, counts the tokens it reports, and
refuses further requests once the job's budget is spent or the job has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
import uvicorn
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from sandbox import relay_http
from sandbox.usage import JobUsage, UsageMeter

CAPABILITY_PREFIX = "fwcap-"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, the last one a NUL
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=30.0)

log = structlog.get_logger("fixwright.relay")


@dataclass
class _Job:
    """One open job: its budget, the key its requests use, and the usage counted so far."""

    job_id: str
    token_budget: int
    api_key: str = field(repr=False)
    usage: JobUsage = field(default_factory=JobUsage)


class _SignalFreeServer(uvicorn.Server):
    """uvicorn without its signal handlers: the relay lives inside a process that owns those."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ModelRelay:
    """The relay's state (open jobs and their usage) and its server on `socket_path`.

    `open_job`, `close_job` and `usage` may be called from any thread.
    """

    def __init__(
        self,
        *,
        socket_path: Path,
        upstream_url: str,
        api_key: str,
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.socket_path = Path(socket_path)
        # Told the reason of every refused request (`unknown_capability`, `budget_spent`).
        self._on_refusal = on_refusal or (lambda reason: None)
        self.upstream_url = upstream_url.rstrip("/")
        self._api_key = api_key
        self._upstream_label = _without_credentials(self.upstream_url)
        self._lock = threading.Lock()
        self._by_token: dict[str, _Job] = {}
        self._token_of: dict[str, str] = {}
        self._client: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ModelRelay(socket_path={self.socket_path!s}, upstream_url={self._upstream_label})"

    # Jobs and their capabilities.

    def open_job(self, job_id: str, *, token_budget: int, api_key: str | None = None) -> str:
        """Return a fresh capability for `job_id` (any earlier one of the same job dies)."""
        token = CAPABILITY_PREFIX + secrets.token_urlsafe(32)
        job = _Job(job_id, token_budget, self._api_key if api_key is None else api_key)
        with self._lock:
            self._by_token.pop(self._token_of.get(job_id, ""), None)
            self._by_token[token] = job
            self._token_of[job_id] = token
        return token

    def close_job(self, job_id: str) -> JobUsage:
        """Kill the job's capability and return the usage it ended with."""
        with self._lock:
            job = self._by_token.pop(self._token_of.pop(job_id), None)
        if job is None:
            raise KeyError(job_id)
        return job.usage

    def usage(self, job_id: str) -> JobUsage:
        """The tokens an open job's requests have used so far."""
        with self._lock:
            return self._by_token[self._token_of[job_id]].usage

    def _job_for(self, token: str) -> _Job | None:
        with self._lock:
            return self._by_token.get(token) if token else None

    def _count(self, job: _Job, growth: JobUsage) -> None:
        with self._lock:
            job.usage = job.usage + growth

    # The server.

    async def start(self) -> None:
        """Listen on the socket (mode 0666, directory 0755) and open the upstream client."""
        if self._serving is not None:
            return
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ValueError(
                f"the relay socket path {self.socket_path} is too long for a Unix socket "
                f"(at most {MAX_SOCKET_PATH} bytes): choose a shorter state directory"
            )
        directory = self.socket_path.parent
        if not directory.exists():
            directory.mkdir(parents=True)
            directory.chmod(0o755)  # whatever the umask: others may pass, only we may write
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, follow_redirects=False)
        config = uvicorn.Config(
            self._asgi,
            uds=str(self.socket_path),
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _SignalFreeServer(config)
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._serving.done():
                await self._serving
                raise RuntimeError(f"the model relay did not start on {self.socket_path}")
            await asyncio.sleep(0.005)
        # The container runs as a non-root user, which must be able to connect.
        os.chmod(self.socket_path, 0o666)  # noqa: S103
        log.info("relay_started", socket=str(self.socket_path), upstream=self._upstream_label)

    async def stop(self) -> None:
        """Stop listening, finish in-flight requests (briefly), remove the socket."""
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            # Waited for, not awaited: a serving task cancelled by a forced exit is not an error.
            await asyncio.wait([self._serving])
        if self._client is not None:
            await self._client.aclose()
        self._server = self._serving = self._client = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        path = request.url.path
        if request.method != "POST" or path not in relay_http.MODEL_PATHS:
            return relay_http.not_found(request.method, path)
        job = self._job_for(relay_http.capability_of(request.headers))
        if job is None:
            log.info("relay_refused", reason="unknown capability", path=path)
            self._on_refusal("unknown_capability")
            return relay_http.unknown_capability()
        if job.usage.budgeted >= job.token_budget:
            log.info("relay_refused", reason="budget spent", job_id=job.job_id, path=path)
            self._on_refusal("budget_spent")
            return relay_http.budget_spent(job.token_budget)
        return await self._forward(request, job)

    async def _forward(self, request: Request, job: _Job) -> Response:
        """Send the request upstream with the real key and stream the answer back unchanged."""
        assert self._client is not None
        url = self.upstream_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        outgoing = self._client.build_request(
            "POST",
            url,
            headers=relay_http.upstream_headers(request.headers.items(), job.api_key),
            content=await request.body(),
        )
        try:
            upstream = await self._client.send(outgoing, stream=True)
        except httpx.HTTPError as error:
            log.warning("relay_upstream_unreachable", job_id=job.job_id, error=type(error).__name__)
            return relay_http.upstream_unreachable(self._upstream_label, error)
        self._count(job, JobUsage(requests=1))
        return StreamingResponse(
            self._relay_body(upstream, job),
            status_code=upstream.status_code,
            headers=dict(
                relay_http.downstream_headers(upstream.status_code, upstream.headers.multi_items())
            ),
        )

    async def _relay_body(self, upstream: httpx.Response, job: _Job) -> AsyncIterator[bytes]:
        """Yield the upstream body as it arrives, counting the usage it reports on the way.

        Usage is always counted before the bytes that report it go out, so a job closed as soon
        as its CLI has read the last answer is charged for it: events are counted as they pass,
        and a JSON body's last chunk is held back until the whole body has been read.
        """
        meter = UsageMeter(upstream.headers.get("content-type", ""))
        held = b""
        try:
            async for chunk in upstream.aiter_raw():
                self._count(job, meter.feed(chunk))
                if meter.streamed:
                    yield chunk
                    continue
                if held:
                    yield held
                held = chunk
            self._count(job, meter.finish())
            if held:
                yield held
        except httpx.HTTPError as error:
            log.warning("relay_upstream_broke", job_id=job.job_id, error=type(error).__name__)
        finally:
            await upstream.aclose()


class RelayThread:
    """A `ModelRelay` on its own event loop in a background thread, for synchronous callers."""

    def __init__(self, *, socket_path: Path, upstream_url: str, api_key: str) -> None:
        self.relay = ModelRelay(socket_path=socket_path, upstream_url=upstream_url, api_key=api_key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fixwright-relay", daemon=True
        )

    def __enter__(self) -> ModelRelay:
        self._thread.start()
        try:
            self._run(self.relay.start())
        except BaseException:
            self._end_loop()
            raise
        return self.relay

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._run(self.relay.stop())
        finally:
            self._end_loop()

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)


def _without_credentials(url: str) -> str:
    """The URL as it may be shown: without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return parts._replace(netloc=host).geturl()
