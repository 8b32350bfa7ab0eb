"""Sign webhook deliveries and build the headers GitHub sends with them."""

from __future__ import annotations

import hashlib
import hmac
import uuid

HOOK_ID = "482617325"
APP_ID = "4242"


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value GitHub computes for `body`: `sha256=<hex hmac>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_sha1(body: bytes, secret: str) -> str:
    """The legacy `X-Hub-Signature` value: `sha1=<hex hmac>`."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def delivery_headers(
    event: str,
    body: bytes,
    secret: str,
    delivery_id: str | None = None,
    app_id: str = APP_ID,
) -> dict[str, str]:
    """Exactly the headers of a GitHub App webhook delivery of `event` carrying `body`."""
    return {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/3e7b2f1",
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": HOOK_ID,
        "X-GitHub-Hook-Installation-Target-ID": app_id,
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature": sign_sha1(body, secret),
        "X-Hub-Signature-256": sign(body, secret),
    }
