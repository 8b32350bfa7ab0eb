"""Webhook signature checks (X-Hub-Signature-256): pure functions over bytes, run before any parsing."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

SIGNATURE_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value GitHub sends for this body and secret."""
    # hmac.digest is OpenSSL's one-shot HMAC: no HMAC object to build per delivery.
    return SIGNATURE_PREFIX + hmac.digest(secret.encode("utf-8"), body, "sha256").hex()


def is_valid_signature(body: bytes, header: str, secrets: Iterable[str]) -> bool:
    """True when the header matches the body under any configured secret (compared in constant time)."""
    if not header.startswith(SIGNATURE_PREFIX) or len(header) != len(SIGNATURE_PREFIX) + 64:
        return False
    claimed = header.lower().encode("ascii", "replace")
    valid = False
    for secret in secrets:
        # Check every secret, so the time taken does not tell which one matched.
        valid |= hmac.compare_digest(sign(body, secret).encode(), claimed)
    return valid
