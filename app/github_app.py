"""The App side of GitHub auth: the App's JWT, per-job installation tokens, and githubkit clients.

Each job gets an installation token scoped down to its one repository and the permissions it
needs. Tokens are cached (keyed by installation, repository and permissions) until shortly before
they expire, so concurrent jobs on the same repository share one, and every token minted for a
key is revoked when the last job using that key ends.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import httpx
import jwt
import structlog
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from githubkit import GitHub, GitHubCore
from githubkit.auth.base import BaseAuthStrategy
from githubkit.exception import RequestError, RequestFailed
from structlog.typing import FilteringBoundLogger

from app.config import Settings
from app.github_pacing import InstallationPacer, PacedTransport, PacingRules
from app.github_retry import RetryPolicy
from app.outbound import redacting_transport

if TYPE_CHECKING:
    from githubkit_schemas.latest.types import AppPermissionsType

JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 540
REFRESH_MARGIN = timedelta(minutes=5)
USER_AGENT = "fixwright"

log: FilteringBoundLogger = structlog.get_logger(__name__)

TokenKey = tuple[int, str, frozenset[tuple[str, str]]]
# Returns the value of a request's Authorization header; awaited for every request.
Credential = Callable[[], Awaitable[str]]


# Clock differences below this are left to the JWT's own 60 s of slack.
CLOCK_TOLERANCE_SECONDS = 30.0


class GitHubAuthError(Exception):
    """GitHub refused the App's credentials; the message says what the operator should change."""


@dataclass(frozen=True)
class InstallationToken:
    """An installation token and the scope it was minted for (the value stays out of repr)."""

    token: str = field(repr=False)
    installation_id: int
    repository: str
    permissions: Mapping[str, str]
    expires_at: datetime

    def fresh(self, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
        """Whether the token is still good for at least `margin`."""
        return now < self.expires_at - margin


@functools.lru_cache(maxsize=4)
def signing_key(private_key: str) -> RSAPrivateKey:
    """The parsed private key. Parsing and checking a PEM takes about 27 ms of CPU on the event
    loop; signing with the parsed key takes half a millisecond, and the App signs every call."""
    key = serialization.load_pem_private_key(private_key.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        # What PyJWT raises for RS256 with another kind of key; `app_jwt` words it.
        raise TypeError(f"RS256 needs an RSA key, not {type(key).__name__}")
    return key


def app_jwt(app_id: str, private_key: str, now: float) -> str:
    """The App's JWT: RS256, backdated a minute for clock drift, valid for nine minutes in all."""
    claims = {
        "iat": int(now) - JWT_BACKDATE_SECONDS,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "iss": str(app_id),
    }
    try:
        return jwt.encode(claims, signing_key(private_key), algorithm="RS256")
    except (ValueError, TypeError, UnsupportedAlgorithm, jwt.PyJWTError) as error:
        raise GitHubAuthError(
            "The App's private key is not a usable RSA key: point FIXWRIGHT_PRIVATE_KEY_PATH at "
            f"the .pem file downloaded from the App's settings page ({type(error).__name__})."
        ) from None


class _HeaderAuth(httpx.Auth):
    """Sets `Authorization` from a callable, so each request carries a current credential."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("fixwright's GitHub clients are async only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = await self._credential()
        yield request


@dataclass(frozen=True)
class _Credential(BaseAuthStrategy):
    """A githubkit auth strategy around an async function returning the Authorization value."""

    header: Credential = field(repr=False)

    def get_auth_flow(self, github: GitHubCore[Any]) -> httpx.Auth:
        return _HeaderAuth(self.header)


class GitHubApp:
    """Mints, caches and revokes the App's installation tokens and builds clients with them."""

    def __init__(self, settings: Settings, refresh_margin: timedelta = REFRESH_MARGIN) -> None:
        self._settings = settings
        self._refresh_margin = refresh_margin
        self._cache: dict[TokenKey, InstallationToken] = {}
        self._minted: dict[TokenKey, list[InstallationToken]] = {}
        self._jobs: dict[TokenKey, int] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}
        self._clock_offset = 0.0  # GitHub's clock minus ours, learnt from a refused JWT
        self._pacers: dict[int, InstallationPacer] = {}  # shared by every client of an installation

    def __repr__(self) -> str:
        return f"GitHubApp(app_id={self._settings.app_id!r}, api={self._settings.github_api_url!r})"

    def _paced(
        self, transport: httpx.AsyncBaseTransport, installation_id: int | None
    ) -> httpx.AsyncBaseTransport:
        """`transport` sending at the pace of the installation's other clients (see github_pacing)."""
        if installation_id is None:
            return transport
        pacer = self._pacers.get(installation_id)
        if pacer is None:
            rules = PacingRules(
                self._settings.github_write_interval_seconds,
                self._settings.github_content_interval_seconds,
            )
            pacer = self._pacers[installation_id] = InstallationPacer(rules)
        return PacedTransport(transport, pacer, urlsplit(self._settings.github_api_url).path)

    def _github(
        self, credential: Credential, *, new_token: bool = True, installation_id: int | None = None
    ) -> GitHub[_Credential]:
        # A 401 is retried once only for a just-minted installation token, never for a JWT.
        policy = RetryPolicy(
            max_wait=self._settings.github_max_wait_seconds,
            secondary_minimum=self._settings.github_secondary_limit_wait_seconds,
        )
        if not new_token:
            policy.minted_at = float("-inf")
        return GitHub(
            _Credential(credential),
            base_url=self._settings.github_api_url,
            user_agent=USER_AGENT,
            # githubkit alone waits forever: a GitHub that accepts a connection and never answers
            # would hold the job, and its lease, for good.
            timeout=httpx.Timeout(self._settings.github_timeout_seconds),
            http_cache=False,
            async_transport=self._paced(
                redacting_transport(self._settings.secret_values()), installation_id
            ),
            auto_retry=policy,
        )

    def app_client(self) -> GitHub[_Credential]:
        """A client authenticated as the App itself (a fresh JWT on every request)."""

        async def bearer() -> str:
            return "Bearer " + self.jwt()

        return self._github(bearer, new_token=False)

    def client(self, token: str) -> GitHub[_Credential]:
        """A client authenticated with one installation token.

        Keep the client in a variable while calling it: `client(t).rest.x` fails, because
        githubkit's namespaces hold the client only by a weak reference.
        """

        async def header() -> str:
            return f"token {token}"

        return self._github(header)

    def jwt(self) -> str:
        """A JWT for the App, valid now by GitHub's clock (see `_learn_clock`)."""
        return app_jwt(
            self._settings.app_id, self._settings.private_key, time.time() + self._clock_offset
        )

    def _learn_clock(self, failure: RequestFailed) -> bool:
        """After a JWT refused for its times, take GitHub's clock from `Date`; True if it differs."""
        message = _message(failure.response.raw_response)
        date = failure.response.headers.get("date")
        if failure.response.status_code != 401 or not date or "claim" not in message:
            return False
        offset = parsedate_to_datetime(date).timestamp() - time.time()
        if abs(offset - self._clock_offset) < CLOCK_TOLERANCE_SECONDS:
            return False
        log.warning("github_clock_skew", seconds=round(offset, 1))
        self._clock_offset = offset
        return True

    async def installation_token(
        self, installation_id: int, repository: str, permissions: Mapping[str, str]
    ) -> InstallationToken:
        """A token for `repository` ("owner/name") with exactly `permissions`, cached until near expiry."""
        key = _key(installation_id, repository, permissions)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached is not None and cached.fresh(datetime.now(UTC), self._refresh_margin):
                return cached
            token = await self._mint(installation_id, repository, permissions)
            self._cache[key] = token
            self._minted.setdefault(key, []).append(token)
            return token

    async def _mint(
        self, installation_id: int, repository: str, permissions: Mapping[str, str]
    ) -> InstallationToken:
        name = repository.partition("/")[2] or repository
        # The names and levels come from the job kinds' declarations (a test holds them to
        # manifest.yml); GitHub checks them, and `_explain` words its refusal.
        wanted = cast("AppPermissionsType", dict(permissions))
        github = self.app_client()  # held: githubkit's namespaces keep only a weak reference
        try:
            try:
                response = await github.rest.apps.async_create_installation_access_token(
                    installation_id, repositories=[name], permissions=wanted
                )
            except RequestFailed as failure:
                if not self._learn_clock(failure):
                    raise
                # Signed again once, on GitHub's clock.
                response = await github.rest.apps.async_create_installation_access_token(
                    installation_id, repositories=[name], permissions=wanted
                )
        except RequestFailed as failure:
            raise GitHubAuthError(
                self._explain(failure, installation_id, repository, permissions)
            ) from None
        except RequestError as failure:
            raise GitHubAuthError(
                f"Cannot reach GitHub at {self._settings.github_api_url} to mint an installation "
                f"token ({type(failure.exc).__name__}): check FIXWRIGHT_GITHUB_API_URL and the "
                "network."
            ) from None
        body = response.parsed_data
        expires = datetime.strptime(body.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return InstallationToken(
            token=body.token,
            installation_id=installation_id,
            repository=repository,
            permissions=dict(permissions),
            expires_at=expires,
        )

    def _explain(
        self,
        failure: RequestFailed,
        installation_id: int,
        repository: str,
        permissions: Mapping[str, str],
    ) -> str:
        """An operator's reading of GitHub's refusal to mint a token."""
        status = failure.response.status_code
        message = _message(failure.response.raw_response)
        app_id = self._settings.app_id
        if status == 401:
            return explain_jwt_rejection(app_id, message)
        if status == 404:
            return (
                f"App {app_id} has no installation {installation_id} (GitHub says: {message}): "
                "the App was uninstalled or the installation id is wrong; reinstall the App on "
                "the account."
            )
        if status == 422 and "permission" in message.lower():
            wanted = ", ".join(f"{k}: {v}" for k, v in sorted(permissions.items()))
            return (
                f"Installation {installation_id} has not granted the permissions fixwright needs "
                f"({wanted}): give the App these permissions and have the account accept them on "
                "the installation's settings page."
            )
        if status == 422:
            return (
                f"Installation {installation_id} cannot reach {repository}: add the repository "
                "to the App's installation (or install the App on its account)."
            )
        return f"GitHub answered {status} when minting an installation token: {message}"

    async def revoke(self, token: InstallationToken | str) -> bool:
        """Revoke a token now; True when GitHub confirmed it (or it was already dead)."""
        value = token.token if isinstance(token, InstallationToken) else token
        github = self.client(value)
        try:
            await github.rest.apps.async_revoke_installation_access_token()
        except RequestFailed as failure:
            return failure.response.status_code == 401
        except RequestError as failure:
            log.warning("github_token_revoke_failed", error=type(failure.exc).__name__)
            return False
        return True

    @asynccontextmanager
    async def for_job(
        self, installation_id: int, repository: str, permissions: Mapping[str, str]
    ) -> AsyncIterator[GitHub[_Credential]]:
        """A client for one job's repository and permissions; its tokens are revoked at the end."""
        key = _key(installation_id, repository, permissions)
        self._jobs[key] = self._jobs.get(key, 0) + 1
        try:
            await self.installation_token(installation_id, repository, permissions)

            async def header() -> str:
                token = await self.installation_token(installation_id, repository, permissions)
                return f"token {token.token}"

            async with self._github(header, installation_id=installation_id) as github:
                yield github
        finally:
            await self._release(key)

    async def _release(self, key: TokenKey) -> None:
        """End one job's use of `key`; the last one out revokes every token minted for it."""
        self._jobs[key] -= 1
        if self._jobs[key] > 0:
            return
        del self._jobs[key]
        self._cache.pop(key, None)
        for token in self._minted.pop(key, []):
            if not await self.revoke(token):
                log.warning(
                    "github_token_not_revoked",
                    installation_id=token.installation_id,
                    repository=token.repository,
                    expires_at=token.expires_at.isoformat(),
                )


def explain_jwt_rejection(app_id: str, message: str) -> str:
    """What to change when GitHub rejects the App's JWT with `message`."""
    if "integration not found" in message.lower():
        return (
            f"GitHub knows no App with id {app_id}: set FIXWRIGHT_APP_ID to the App ID shown on "
            "the App's settings page."
        )
    if "'iat'" in message or "'exp'" in message:
        return (
            f"GitHub rejected the App's JWT because of its time claims ({message}): this "
            "machine's clock is probably wrong; synchronise it (NTP)."
        )
    return (
        f"GitHub rejected the App's JWT ({message}): the private key does not belong to App "
        f"{app_id}. Download a new private key from the App's settings page and point "
        "FIXWRIGHT_PRIVATE_KEY_PATH at it, or correct FIXWRIGHT_APP_ID."
    )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", "")) if isinstance(body, dict) else str(body)[:200]


def _key(installation_id: int, repository: str, permissions: Mapping[str, str]) -> TokenKey:
    return (installation_id, repository, frozenset(permissions.items()))
