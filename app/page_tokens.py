"""Signed links to a job's live page: `/jobs/{id}?t=<expiry>.<signature>`.

The signature is HMAC-SHA256 over the job id and the expiry with the service's page key, so a
link opens one job's page, read-only, until it expires; it names nothing else and unlocks nothing
else. The key is `FIXWRIGHT_PAGE_SIGNING_KEY`, or one generated at first need into a file of the
state directory that only the service's user may read (replacing it ends every link given).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from app.config import Settings
from app.log import get_logger

KEY_FILE = "page-signing.key"
KEY_BYTES = 32
SIGNATURE_CHARACTERS = 43  # 32 bytes, base64url without padding
LONGEST_EXPIRY_DIGITS = 12
PURPOSE = b"fixwright job page v1"

_keys: dict[Path, bytes] = {}
_keys_lock = threading.Lock()


class PageKeyError(Exception):
    """The key file cannot be trusted or made: what to do is in the message."""


class TokenCheck(StrEnum):
    """What a page token is, for one job at one time."""

    VALID = "valid"
    MISSING = "missing"  # no token at all: 401
    FORGED = "forged"  # malformed, or not signed for this job with this service's key: 403
    EXPIRED = "expired"  # genuine, but past its expiry: 410


def signing_key(settings: Settings) -> bytes:
    """The page key: the configured one, else the state directory's (made at first need)."""
    if settings.page_signing_key:
        return settings.page_signing_key.encode()
    path = Path(settings.state_dir) / KEY_FILE
    with _keys_lock:
        if path not in _keys:
            _keys[path] = load_or_create_key(path)
        return _keys[path]


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, made with mode 0600 if there is none; never read through a link, nor
    from a file others may read or write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_key(path)
    key = secrets.token_hex(KEY_BYTES).encode()
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise PageKeyError(f"{path} cannot be read ({error.strerror}): remove it") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or info.st_uid != os.getuid():
            raise PageKeyError(
                f"{path} must be a file of the service's user that only it may read (mode 0600)"
            )
        key = os.read(fd, 4 * KEY_BYTES + 1).strip()
    finally:
        os.close(fd)
    if len(key) < KEY_BYTES:
        raise PageKeyError(f"{path} holds no key: remove it, and a new one is made")
    return key


def signature(key: bytes, job_id: str, expires: int) -> str:
    message = PURPOSE + b"\0" + job_id.encode("utf-8", "replace") + b"\0" + str(expires).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def page_token(settings: Settings, job_id: str, now: float) -> str:
    """A token for the job's page, valid for `FIXWRIGHT_PAGE_LINK_EXPIRES` from `now`."""
    expires = int(now + settings.page_link_seconds)
    return f"{expires}.{signature(signing_key(settings), job_id, expires)}"


def check_token(settings: Settings, job_id: str, token: str | None, now: float) -> TokenCheck:
    """Whether `token` opens this job's page now; the signature is compared in constant time,
    and checked before the expiry (an expired forgery is a forgery)."""
    if not token:
        return TokenCheck.MISSING
    expiry, dot, given = token.partition(".")
    if (
        not dot
        or not expiry.isascii()
        or not expiry.isdigit()
        or len(expiry) > LONGEST_EXPIRY_DIGITS
        or len(given) != SIGNATURE_CHARACTERS
    ):
        return TokenCheck.FORGED
    expected = signature(signing_key(settings), job_id, int(expiry))
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        return TokenCheck.FORGED
    return TokenCheck.VALID if now < int(expiry) else TokenCheck.EXPIRED


def page_link(settings: Settings, job_id: str, now: float) -> str:
    """The job page's absolute link, or "" when `FIXWRIGHT_PUBLIC_URL` is not set."""
    if not settings.public_url:
        return ""
    try:
        token = page_token(settings, job_id, now)
    except PageKeyError as error:  # the job goes on without its link; the operator is told
        get_logger().error("job_page.no_signing_key", remedy=str(error))
        return ""
    return f"{settings.public_url.rstrip('/')}/jobs/{quote(job_id, safe='')}?t={token}"
