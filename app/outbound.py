"""Everything fixwright sends to GitHub passes the same redaction as its logs.

Comments, pull request bodies, check run summaries and commit messages carry text the model
wrote, and the model read a repository anyone may have written to: a prompt injection can make
it echo a token. The redaction sits in the HTTP transport of every GitHub client, so no handler
can forget it.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Iterable
from typing import Any

import httpx
import structlog
from structlog.typing import FilteringBoundLogger

from sandbox.redaction import redact_value

log: FilteringBoundLogger = structlog.get_logger(__name__)


class RedactingTransport(httpx.AsyncBaseTransport):
    """Redacts secrets and token shapes from every string in a request's JSON body, then sends it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, secrets: Iterable[str] = ()) -> None:
        self._inner = inner
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(await self.redacted(request))

    async def redacted(self, request: httpx.Request) -> httpx.Request:
        """The request itself when its body is clean (or not JSON), else a copy with it redacted."""
        if not _is_json(request):
            return request
        raw = await request.aread()
        try:
            body = json.loads(raw)
        except ValueError:
            return request
        cleaned = redact_body(body, self._secrets)
        if cleaned == body:
            return request
        log.warning("github_request_redacted", method=request.method, path=request.url.path)
        headers = [(k, v) for k, v in request.headers.multi_items() if k != "content-length"]
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=json.dumps(cleaned).encode(),
            extensions=request.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def redact_body(body: Any, secrets: Iterable[str]) -> Any:
    """A JSON value with every string redacted (keys are field names and left alone)."""
    return redact_value(body, tuple(secrets))


def _is_json(request: httpx.Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower().endswith("json")


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One TLS context for every GitHub client (SSL_CERT_FILE and SSL_CERT_DIR honoured).

    Building one loads the CA bundle: 15 to 30 ms of CPU on the event loop, which every
    short-lived client would otherwise pay again, stalling the intake while jobs start.
    """
    return httpx.create_ssl_context(trust_env=True)


class _ClientTransport(httpx.AsyncBaseTransport):
    """Sends through a default httpx client, which honours HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE.

    httpx stops reading proxy settings from the environment once a client is given a transport;
    delegating to a default client keeps the behaviour operators expect behind a corporate proxy.
    githubkit closes the transport with each short-lived client it makes, so the inner client is
    made again on the next request rather than left closed.
    """

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=True, verify=shared_tls_context())
        return await self._client.send(request, stream=True)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def redacting_transport(secrets: Iterable[str]) -> RedactingTransport:
    """The transport for fixwright's GitHub clients: redaction over httpx's default networking."""
    return RedactingTransport(_ClientTransport(), secrets)
