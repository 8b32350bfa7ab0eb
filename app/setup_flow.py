"""Registering the App by GitHub's manifest flow: the manifest, the `state`, and the conversion.

The page posts `manifest.yml`, with this service's addresses filled in, to GitHub with a random
`state`; GitHub sends the browser back to `/setup/callback?code=…&state=…`; the `state` is
redeemed once (it is kept here, server-side, for an hour) and the `code` is exchanged for the
App's id, slug, keys and secrets (`POST /app-manifests/{code}/conversions`), which are stored
encrypted (app/secrets_store.py).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from githubkit import GitHub, UnauthAuthStrategy
from githubkit.exception import GitHubException

from app.config import Settings
from app.github_urls import under_web_root
from app.webhook_endpoint import WEBHOOK_PATH

# Beside the source tree (a checkout, an editable install), else in the directory the service
# runs in (the service image's working directory holds it beside an installed package).
MANIFESTS = (Path(__file__).resolve().parent.parent / "manifest.yml", Path("manifest.yml"))
CALLBACK_PATH = "/setup/callback"
STORED = "stored"  # where a value came from (Settings.value_sources)
STATE_SECONDS = 3600.0
# Pages opened and never submitted: the oldest are forgotten past this many.
MAX_PENDING = 256
# GitHub's manifest codes are short hex or URL-safe strings; anything else never reaches GitHub.
CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,100}")
STATE_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,100}")
# GitHub's account and organisation logins.
LOGIN_SHAPE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


@dataclass
class PendingStates:
    """The `state` values pages were given: each redeemable once, within an hour."""

    clock: Callable[[], float] = time.time
    lifetime: float = STATE_SECONDS
    _expires: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self) -> str:
        state = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            for old in [s for s, expires in self._expires.items() if expires <= now]:
                del self._expires[old]
            while len(self._expires) >= MAX_PENDING:
                del self._expires[next(iter(self._expires))]
            self._expires[state] = now + self.lifetime
        return state

    def redeem(self, state: str) -> str:
        """ "" when `state` was issued here, unexpired and unused (it is used now); else why not."""
        if not STATE_SHAPE.fullmatch(state):
            return "it carries no set-up state this service gave"
        with self._lock:
            expires = self._expires.pop(state, None)
        if expires is None:
            return "its set-up state is not one this service gave, or it was used already"
        if expires <= self.clock():
            return "its set-up state expired (a set-up page is good for an hour)"
        return ""


def base_url(settings: Settings, scheme: str, host: str) -> str:
    """Where GitHub and browsers reach this service: FIXWRIGHT_PUBLIC_URL, else the request's host."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if not re.fullmatch(
        r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?", host
    ):
        host = f"{settings.host}:{settings.port}"
    return f"{'https' if scheme == 'https' else 'http'}://{host}"


def load_manifest(candidates: tuple[Path, ...] = MANIFESTS) -> dict[str, Any]:
    """The first manifest.yml found; OSError when there is none."""
    path = next((p for p in candidates if p.is_file()), candidates[0])
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path.name} is not a mapping")
    return document


def filled_manifest(manifest: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The manifest with this service's addresses: its page, its webhook, its callback."""
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = base + WEBHOOK_PATH
    return {**manifest, "url": base, "hook_attributes": hook, "redirect_url": base + CALLBACK_PATH}


def registration_url(settings: Settings, state: str, organisation: str = "") -> str:
    """Where the page's form posts the manifest: the account's or the organisation's new-App page."""
    web = settings.github_web_url.rstrip("/")
    if organisation:
        return f"{web}/organizations/{organisation}/settings/apps/new?state={state}"
    return f"{web}/settings/apps/new?state={state}"


@dataclass(frozen=True)
class Registered:
    """The App GitHub made from the manifest, as the conversion returned it."""

    app_id: str
    slug: str
    client_id: str
    client_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    private_key: str = field(repr=False)
    html_url: str = ""  # the App's page; not stored, the install link is shown once

    def stored(self) -> dict[str, str]:
        """By the FIXWRIGHT_ variable each fills (app/secrets_store.py)."""
        return {
            "APP_ID": self.app_id,
            "APP_SLUG": self.slug,
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "WEBHOOK_SECRET": self.webhook_secret,
            "PRIVATE_KEY": self.private_key,
        }


def install_url(settings: Settings, registered: Registered) -> str:
    """The App's install page: below its page GitHub named (`/apps/<slug>` on github.com,
    `/github-apps/<slug>` on GitHub Enterprise Server) when that is on the web root, else
    github.com's shape on the web root."""
    page = registered.html_url.rstrip("/")
    if not page or not under_web_root(page, settings.github_web_url):
        page = f"{settings.github_web_url.rstrip('/')}/apps/{registered.slug}"
    return f"{page}/installations/new"


class ConversionFailed(Exception):
    """GitHub did not turn the code into an App; the message says why in words."""


async def convert(settings: Settings, code: str) -> Registered:
    """Exchange the callback's `code` for the App's credentials (it works once, within an hour)."""
    github = GitHub(
        UnauthAuthStrategy(),
        base_url=settings.github_api_url,
        timeout=httpx.Timeout(settings.github_timeout_seconds),
        http_cache=False,
        auto_retry=False,
    )
    try:
        answer = (await github.rest.apps.async_create_from_manifest(code)).parsed_data
    except GitHubException as error:
        raise ConversionFailed(
            f"GitHub did not accept the code ({type(error).__name__}): it is good once and for "
            "an hour; start again from the set-up page"
        ) from None
    except httpx.HTTPError as error:
        raise ConversionFailed(
            f"GitHub could not be reached ({type(error).__name__}): check "
            "FIXWRIGHT_GITHUB_API_URL and try again from the set-up page"
        ) from None
    if not answer.webhook_secret or not answer.slug:
        raise ConversionFailed(
            "GitHub made the App without a webhook secret or slug: delete it on GitHub and "
            "start again from the set-up page"
        )
    return Registered(
        app_id=str(answer.id),
        slug=answer.slug,
        client_id=answer.client_id,
        client_secret=answer.client_secret,
        webhook_secret=answer.webhook_secret,
        private_key=answer.pem,
        html_url=answer.html_url or "",
    )


def with_stored(settings: Settings, stored: Mapping[str, str]) -> Settings:
    """The running settings with the stored values filling what the environment left empty."""
    sources = dict(settings.value_sources)
    changes: dict[str, Any] = {}
    fills = {
        "APP_ID": "app_id",
        "APP_SLUG": "app_slug",
        "PRIVATE_KEY": "private_key",
        "ANTHROPIC_API_KEY": "anthropic_api_key",
    }
    for name, attribute in fills.items():
        if stored.get(name) and sources.get(name) != "env" and not getattr(settings, attribute):
            value = stored[name]
            if name == "PRIVATE_KEY":
                value = value.strip() + "\n"
            changes[attribute] = value
            sources[name] = STORED
    secret = stored.get("WEBHOOK_SECRET", "")
    if secret and sources.get("WEBHOOK_SECRET") != "env" and not settings.webhook_secrets:
        changes["webhook_secrets"] = (secret,)
        sources["WEBHOOK_SECRET"] = STORED
    if stored.get("CLIENT_SECRET"):
        sources.setdefault("CLIENT_SECRET", STORED)
    return dataclasses.replace(settings, value_sources=sources, **changes)
