"""Redaction of secrets from text: pure, and free of the rest of the project, so every layer can use it.

The service's logs (app/log.py), what goes to GitHub, git's error messages and the secret scan
of a change all redact or look for the same token shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

# Token shapes that must never reach a log line, whatever the configuration says. A private key's
# body stops at the next BEGIN line: otherwise every BEGIN without an END scanned to the end of
# the text (quadratic on model output or a diff repeating the header line).
TOKEN_PATTERN = re.compile(
    r"(?:gh[opsur]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-ant-[A-Za-z0-9_\-]{8,}"
    r"|fwcap-[A-Za-z0-9_\-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----(?:(?!-----BEGIN )[\s\S])*?"
    r"-----END [A-Z ]*PRIVATE KEY-----)"
)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with known token shapes and the given secret values replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return TOKEN_PATTERN.sub(REDACTED, text)


def redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {key: redact_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item, secrets) for item in value)
    if isinstance(value, BaseException):
        return redact_text(repr(value), secrets)
    return value
