"""API keys on requests: `require_key(request, scope)` authenticates the bearer key, counts the
request against the key's rate limits, and checks the scope, in that order.

A key reads `fw_<id>_<secret>`: the id (public, in logs and the audit trail) finds the stored
row, whose SHA-256 of the secret is compared in constant time. An unknown id is compared against
a hash no secret has, so it costs what a wrong secret costs and the answer is the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from app.api.context import ApiState, api_state
from app.api.errors import ApiError
from app.api.rate_limit import HOUR, MINUTE, Window
from app.config import Settings
from app.store.api_keys import ApiKeyRecord

SCOPES = (
    "tasks:write",
    "tasks:read",
    "audit:read",
    "stats:read",
    "schedules:write",
    "schedules:read",
    "admin",
)
KEY_PREFIX = "fw_"
KEY_ID = re.compile(r"[0-9a-f]{16}")
# The whole key, bounded: the id, then a URL-safe secret (which may itself contain `_`).
KEY_SHAPE = re.compile(r"fw_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})")
UNKNOWN_SECRET_SHA256 = hashlib.sha256(b"no such API key").digest()
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fixwright"'}


@dataclass(frozen=True)
class ApiKey:
    """An authenticated key as the routes see it: the service's limits filled in."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    per_minute: int
    per_hour: int


@dataclass(frozen=True)
class NewKey:
    """A key just made: the record to store and the full key, shown once."""

    record: ApiKeyRecord
    key: str


def secret_sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "replace")).digest()


def new_key(
    name: str,
    scopes: tuple[str, ...],
    now: float,
    expires_at: float | None = None,
    per_minute: int | None = None,
    per_hour: int | None = None,
) -> NewKey:
    """A fresh key with a random id and a 256-bit secret."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=key_id,
        name=name,
        secret_sha256=secret_sha256(secret),
        scopes=scopes,
        created_at=now,
        expires_at=expires_at,
        per_minute=per_minute,
        per_hour=per_hour,
    )
    return NewKey(record, f"{KEY_PREFIX}{key_id}_{secret}")


def api_key_of(record: ApiKeyRecord, settings: Settings) -> ApiKey:
    return ApiKey(
        id=record.id,
        name=record.name,
        scopes=frozenset(record.scopes),
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        per_minute=record.per_minute or settings.api_rate_per_minute,
        per_hour=record.per_hour or settings.api_rate_per_hour,
    )


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=CHALLENGE)


def bearer_of(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


async def authenticate(state: ApiState, given: str) -> ApiKey:
    """The key `given` names, if its secret matches and it is neither revoked nor expired."""
    if not given:
        raise unauthorized("send an API key as `Authorization: Bearer fw_...`")
    shape = KEY_SHAPE.fullmatch(given)
    if shape is None:
        raise unauthorized("the API key is not one fixwright made (fw_<id>_<secret>)")
    key_id, secret = shape.groups()
    record = await state.store.api_key(key_id)
    expected = record.secret_sha256 if record else UNKNOWN_SECRET_SHA256
    if not hmac.compare_digest(secret_sha256(secret), expected) or record is None:
        raise unauthorized("the API key is unknown or its secret does not match")
    if record.revoked_at is not None:
        raise unauthorized(f"the API key {record.id} was revoked: ask for a new one")
    if record.expires_at is not None and record.expires_at <= state.clock():
        raise unauthorized(f"the API key {record.id} expired: ask for a new one")
    return api_key_of(record, state.settings)


async def require_key(request: Request, scope: str) -> ApiKey:
    """The request's key, counted against its limits and holding `scope`; else 401, 429 or 403
    (as `ApiError`). The rate-limit headers of the answer are left on `request.state`."""
    state = api_state(request)
    key = await authenticate(state, bearer_of(request))
    request.state.api_key_id = key.id
    windows = (Window(key.per_minute, MINUTE), Window(key.per_hour, HOUR))
    decision = state.limiter.hit(key.id, windows, state.clock())
    request.state.rate_limit = decision
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"this key may make {decision.limit} requests in this window: "
            f"retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )
    if scope not in key.scopes:
        raise ApiError(
            403,
            "forbidden",
            f"this key lacks the `{scope}` scope (it has: {', '.join(sorted(key.scopes))})",
        )
    return key
