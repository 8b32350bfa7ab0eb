"""The model relay: the sandbox's only way out, swapping per-job capabilities for the real key.

It listens on a Unix socket on the host that is bind-mounted into the container. A request must
present its job's capability token and pass the rules (sandbox/relay_rules.py: only what Claude
Code itself sends); it then takes one of the job's places in flight and reserves its `max_tokens`
against the job's budget and its pool's (sandbox/relay_budget.py), goes upstream with the real
key, and comes back byte for byte while the tokens it reports are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import structlog
import uvicorn
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from structlog.typing import FilteringBoundLogger

from sandbox import relay_http
from sandbox.relay_budget import DEFAULT_MAX_IN_FLIGHT, JobBudget, Ledger, NoRoom, PoolShare
from sandbox.relay_rules import UNKNOWN_CAPABILITY, JobRules, Refusal, check_request, too_large
from sandbox.relay_stream import relay_answer
from sandbox.relay_traffic import model_sent_for
from sandbox.usage import JobUsage

CAPABILITY_PREFIX = "fwcap-"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, the last one a NUL
UPSTREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=60.0, pool=30.0)
# The model API takes request bodies of up to 32 MB; Claude Code's own are a few hundred KB.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# The most output one request may ask for; the CLI is told to ask for no more (container.py).
DEFAULT_MAX_TOKENS = 32_000

log: FilteringBoundLogger = structlog.get_logger("fixwright.relay")
T = TypeVar("T")


@dataclass
class _Job:
    """One open job: the key its requests use, what they may ask, and its budget."""

    job_id: str
    api_key: str = field(repr=False)
    rules: JobRules
    budget: JobBudget


class _SignalFreeServer(uvicorn.Server):
    """uvicorn without its signal handlers: the relay lives inside a process that owns those."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ModelRelay:
    """The relay's state (open jobs, their budgets and usage) and its server on `socket_path`.

    `open_job`, `close_job` and `usage` may be called from any thread. `extra_models` are models
    any job may use besides its own; `max_in_flight` is per job.
    """

    def __init__(
        self,
        *,
        socket_path: Path,
        upstream_url: str,
        api_key: str,
        on_refusal: Callable[[str], None] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        extra_models: Iterable[str] = (),
    ) -> None:
        self.socket_path = Path(socket_path)
        # Told the reason of every refused request (the reasons in relay_rules and relay_budget).
        self._on_refusal = on_refusal or (lambda reason: None)
        self.upstream_url = upstream_url.rstrip("/")
        self._api_key = api_key
        self._upstream_label = _without_credentials(self.upstream_url)
        self._max_body_bytes = max_body_bytes
        self._extra_models = frozenset(extra_models)
        self._ledger = Ledger(max_in_flight)
        self._lock = threading.Lock()
        self._by_token: dict[str, _Job] = {}
        self._token_of: dict[str, str] = {}
        self._client: httpx.AsyncClient | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ModelRelay(socket_path={self.socket_path!s}, upstream_url={self._upstream_label})"

    # Jobs and their capabilities.

    def open_job(
        self,
        job_id: str,
        *,
        token_budget: int,
        api_key: str | None = None,
        model: str = "",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        pool: PoolShare | None = None,
    ) -> str:
        """Return a fresh capability for `job_id` (any earlier one of the same job dies).

        `model` is the one the CLI is told to use (empty: its default); `pool` is the budget the
        job shares with others, such as its installation's day.
        """
        token = CAPABILITY_PREFIX + secrets.token_urlsafe(32)
        rules = JobRules(frozenset({model_sent_for(model)}) | self._extra_models, max_tokens)
        with self._lock:
            self._by_token.pop(self._token_of.get(job_id, ""), None)
            budget = self._ledger.open(job_id, token_budget, pool)
            key = self._api_key if api_key is None else api_key
            self._by_token[token] = _Job(job_id, key, rules, budget)
            self._token_of[job_id] = token
        return token

    def close_job(self, job_id: str) -> JobUsage:
        """Kill the job's capability and return the usage it ended with (requests still in
        flight charged in full)."""
        with self._lock:
            job = self._by_token.pop(self._token_of.pop(job_id), None)
            if job is None:
                raise KeyError(job_id)
            return self._ledger.close(job_id)

    def usage(self, job_id: str) -> JobUsage:
        """The tokens an open job's requests have used so far."""
        with self._lock:
            return self._by_token[self._token_of[job_id]].budget.usage

    def _job_for(self, token: str) -> _Job | None:
        with self._lock:
            return self._by_token.get(token) if token else None

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
        refusal = await self._handle(Request(scope, receive), send)
        if refusal is not None:
            await refusal(scope, receive, send)

    async def _handle(self, request: Request, send: Send) -> Response | None:
        """Answer one request: an error response to send, or None once the answer is sent."""
        path = request.url.path
        if request.method != "POST" or path not in relay_http.MODEL_PATHS:
            return relay_http.not_found(request.method, path)
        job = self._job_for(relay_http.capability_of(request.headers))
        if job is None:
            return self._refuse(None, path, UNKNOWN_CAPABILITY)
        if relay_http.declared_length(request.headers) > self._max_body_bytes:
            return self._refuse(job, path, too_large(self._max_body_bytes))
        # The place is taken before the body is read: a job buffers at most that many bodies.
        no_room = self._ledger.enter(job.budget)
        if no_room is not None:
            return self._refuse(job, path, no_room)
        try:
            body = await _read_body(request, self._max_body_bytes)
            if body is None:
                return self._refuse(job, path, too_large(self._max_body_bytes))
            decision = check_request(
                path, request.url.query, body, request.headers.items(), job.rules
            )
            if isinstance(decision, Refusal):
                return self._refuse(job, path, decision)
            reservation = self._ledger.reserve(job.budget, decision.max_tokens)
            if isinstance(reservation, NoRoom):
                return self._refuse(job, path, reservation)
            assert self._client is not None
            return await relay_answer(
                self._client,
                self._upstream(request, body, decision.headers, job.api_key),
                send,
                request.receive,
                ledger=self._ledger,
                reservation=reservation,
                on_unreachable=self._unreachable(job),
                job_id=job.job_id,
            )
        except ClientDisconnect:
            return None
        finally:
            self._ledger.leave(job.budget)

    def _upstream(
        self, request: Request, body: bytes, headers: list[tuple[str, str]], api_key: str
    ) -> httpx.Request:
        """The request as the model API gets it: the real key, an unencoded answer asked for
        (so usage is read from the very bytes passed on), and only the headers it needs."""
        assert self._client is not None
        url = self.upstream_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        outgoing = [*headers, ("accept-encoding", "identity")]
        if api_key:
            outgoing.append(("x-api-key", api_key))
        return self._client.build_request("POST", url, headers=outgoing, content=body)

    def _unreachable(self, job: _Job) -> Callable[[Exception], Response]:
        def answer(error: Exception) -> Response:
            log.warning("relay_upstream_unreachable", job_id=job.job_id, error=type(error).__name__)
            return relay_http.upstream_unreachable(self._upstream_label, error)

        return answer

    def _refuse(self, job: _Job | None, path: str, refusal: Refusal | NoRoom) -> Response:
        """Log and count a refused request, and answer it in the model API's shape."""
        job_id = job.job_id if job else None
        log.info(
            "relay_refused", reason=refusal.reason, job_id=job_id, path=path, why=refusal.message
        )
        self._on_refusal(refusal.reason)
        if isinstance(refusal, NoRoom):
            return relay_http.no_room(refusal.status, refusal.message)
        return relay_http.api_error(refusal.status, refusal.error_type, refusal.message)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes `limit` bytes (the rest is never read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class RelayThread:
    """A `ModelRelay` on its own event loop in a background thread, for synchronous callers."""

    def __init__(
        self, *, socket_path: Path, upstream_url: str, api_key: str, **limits: Any
    ) -> None:
        """`limits` are `ModelRelay`'s other keyword arguments."""
        self.relay = ModelRelay(
            socket_path=socket_path, upstream_url=upstream_url, api_key=api_key, **limits
        )
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

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)


def _without_credentials(url: str) -> str:
    """The URL as it may be shown: without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return parts._replace(netloc=host).geturl()
