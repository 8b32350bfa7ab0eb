"""How the fake GitHub authenticates callers: the App's JWT and installation tokens."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import jwt

from tests.fakes.github.payloads import error
from tests.fakes.github.records import AccessToken, now
from tests.fakes.github.state import GitHubState

CLOCK_SKEW_SECONDS = 60
MAX_JWT_LIFETIME_SECONDS = 600


class ApiError(Exception):
    """A response GitHub would give instead of serving the request."""

    def __init__(
        self, http_status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(f"{http_status} {message}")
        self.status = http_status
        self.body = error(message, **extra)
        self.headers = headers or {}


def bad_credentials() -> ApiError:
    return ApiError(401, "Bad credentials")


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def not_accessible() -> ApiError:
    return ApiError(403, "Resource not accessible by integration", status="403")


def bearer(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer X` or `token X` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() not in ("bearer", "token") or not value.strip():
        return None
    return value.strip()


def verify_app_jwt(state: GitHubState, authorization: str | None) -> None:
    """Accept only a JWT signed with the App's key, issued by its id, valid now, for <= 10 min."""
    credential = bearer(authorization)
    if credential is None:
        raise ApiError(
            401,
            "A JSON web token could not be decoded" if authorization else "Requires authentication",
        )
    try:
        claims = jwt.decode(
            credential,
            state.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
        )
    except jwt.InvalidTokenError as failure:
        raise ApiError(401, "A JSON web token could not be decoded") from failure
    _check_claims(state, claims)


def _check_claims(state: GitHubState, claims: dict[str, Any]) -> None:
    issued, expires = claims.get("iat"), claims.get("exp")
    if str(claims.get("iss")) != str(state.app_id):
        raise ApiError(401, "Integration not found")
    if not isinstance(issued, int | float):
        raise ApiError(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued",
        )
    if not isinstance(expires, int | float):
        raise ApiError(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires",
        )
    current = now().timestamp() + state.clock_offset
    if issued > current + CLOCK_SKEW_SECONDS:
        raise ApiError(
            401,
            "'Issued at' claim ('iat') must be an Integer representing a time in the past",
        )
    if expires - issued > MAX_JWT_LIFETIME_SECONDS:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    if expires <= current:
        raise ApiError(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires",
        )


def installation_token(state: GitHubState, credential: str | None) -> AccessToken:
    """The usable installation token `credential` names, else GitHub's 401."""
    token = state.tokens.get(credential or "")
    if token is None or not token.usable(now()):
        raise bad_credentials()
    return token


def authorize(
    state: GitHubState,
    authorization: str | None,
    repository: str,
    permission: str,
    level: str,
    alternative: str | None = None,
) -> AccessToken:
    """Require a token scoped to `repository` holding `permission` (or `alternative`) at `level`."""
    if bearer(authorization) is None:
        raise ApiError(401, "Requires authentication")
    token = installation_token(state, bearer(authorization))
    if repository not in state.repositories or repository not in token.repositories:
        raise not_found()
    allowed = token.allows(permission, level) or (
        alternative is not None and token.allows(alternative, level)
    )
    if not allowed:
        raise not_accessible()
    return token


def basic_token(authorization: str | None) -> str | None:
    """The password of `Authorization: Basic x-access-token:<token>`, as git sends it."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, password = decoded.partition(":")
    return password if username == "x-access-token" and password else None
