"""A receiver of fixwright's outgoing webhooks, as an integrator would run one: it keeps each
request (headers and raw body) and answers the statuses it was told to, in order (then 200)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.fakes.model.threaded import serve_in_thread
from tests.fakes.tls_certificates import ServerCertificate
from tests.waiting import wait_for


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def signed_with(self, secret: str) -> bool:
        """What a receiver checks: the HMAC of the raw body, compared in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-fixwright-signature-256", ""))


@dataclass
class WebhookReceiver:
    """An ASGI app: `statuses` are answered first, one per request, then 200; `answer` is the
    body of each answer."""

    statuses: list[int] = field(default_factory=list)
    answer: bytes = b"ok"
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        with self._lock:
            self.received.append(Received(scope["path"], headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), *self.extra_headers],
            }
        )
        await send({"type": "http.response.body", "body": self.answer})


@contextmanager
def receiving(
    receiver: WebhookReceiver, certificate: ServerCertificate | None = None
) -> Iterator[str]:
    """The receiver served on a fresh 127.0.0.1 port, over https with `certificate` when given:
    yields its base URL."""
    if certificate is None:
        with serve_in_thread(receiver) as url:
            yield url
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        receiver,
        log_level="warning",
        lifespan="off",
        access_log=False,
        ssl_certfile=str(certificate.cert_pem),
        ssl_keyfile=str(certificate.key_pem),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive())
        assert server.started, "the receiver did not start"
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
