"""The set-up routes: the page, GitHub's callback, the model key, and what is configured.

`/` and `/setup` serve the page while the App is not registered (or after `fixwright setup
reopen`), else 404. The callback is refused, with a page that says why, without a state this
service gave, with one used already, or once set-up is closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import setup_flow, setup_page
from app.api.auth import require_key
from app.api.errors import ApiError
from app.config import PREFIX, STORED_SETTINGS, Settings
from app.errors import error_response
from app.log import get_logger, redact_also
from app.secrets_store import REOPENED, SecretsError, SecretsStore

MAX_FORM_BYTES = 64 * 1024
MAX_MODEL_KEY_CHARS = 400
SETUP_PATHS = frozenset({"/", "/setup", "/setup/callback", "/setup/model-key", "/setup/status"})
# What registering an App stores that the service reads (app.config.STORED_SETTINGS).
APP_CREDENTIALS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET")


@dataclass
class SetupService:
    """Set-up's state in this process: the settings, the stored secrets, the pending states."""

    settings: Settings
    store: SecretsStore
    states: setup_flow.PendingStates = field(default_factory=setup_flow.PendingStates)
    # Set while the service waits in set-up mode: starts the service with the new settings.
    switch: Callable[[Settings], Awaitable[bool]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def pending(self) -> bool:
        """True while the service waits for the App's credentials (set-up mode)."""
        return self.settings.needs_setup()

    def is_open(self) -> bool:
        if self.pending:
            return True
        try:
            return bool(self.store.read().get(REOPENED))
        except SecretsError:
            return False


def setup_of(request: Request) -> SetupService:
    service: SetupService = request.app.state.setup
    return service


def overridden_by_env(settings: Settings, names: tuple[str, ...]) -> tuple[str, ...]:
    """The environment's variables that win over these stored values, which are then never used."""
    return tuple(
        " or ".join(PREFIX + variable for variable in STORED_SETTINGS[name])
        for name in names
        if settings.value_sources.get(name) == "env"
    )


def not_found(request: Request) -> Response:
    return error_response(404, "not_found", f"{request.method} {request.url.path}: Not Found")


async def show_page(request: Request) -> Response:
    setup = setup_of(request)
    if not setup.is_open():
        return not_found(request)
    settings = setup.settings
    organisation = request.query_params.get("org", "").strip()
    if organisation and not setup_flow.LOGIN_SHAPE.fullmatch(organisation):
        return setup_page.refused_page(
            "That is not an organisation's name (letters, digits and `-`).",
            settings.github_web_url,
            400,
        )
    base = setup_flow.base_url(settings, request.url.scheme, request.headers.get("host", ""))
    try:
        manifest = setup_flow.filled_manifest(setup_flow.load_manifest(), base)
    except (OSError, ValueError) as error:
        get_logger().error("setup.manifest_unreadable", error=str(error))
        return setup_page.refused_page(
            "manifest.yml cannot be read beside the service: reinstall fixwright.",
            settings.github_web_url,
            503,
        )
    action = setup_flow.registration_url(settings, setup.states.issue(), organisation)
    return setup_page.register_page(action, manifest, organisation, settings.github_web_url, base)


async def callback(request: Request) -> Response:
    setup = setup_of(request)
    web = setup.settings.github_web_url

    def refused(reason: str, status: int) -> Response:
        get_logger().warning("setup.callback_refused", status=status, reason=reason)
        return setup_page.refused_page(f"This set-up link was refused: {reason}.", web, status)

    if not setup.is_open():
        return refused("fixwright is already set up (`fixwright setup reopen` opens set-up)", 409)
    code = request.query_params.get("code", "")
    problem = setup.states.redeem(request.query_params.get("state", ""))
    if problem:
        return refused(problem, 400)
    if not setup_flow.CODE_SHAPE.fullmatch(code):
        return refused("it carries no code from GitHub", 400)
    async with setup.lock:  # one registration at a time: the second finds set-up closed
        if not setup.is_open():
            return refused("fixwright was set up meanwhile", 409)
        try:
            registered = await setup_flow.convert(setup.settings, code)
        except setup_flow.ConversionFailed as failure:
            return refused(str(failure), 502)
        redact_also(registered.stored().values())
        restart_needed = not setup.pending  # reopened on a running service
        try:
            setup.store.update({**registered.stored(), REOPENED: ""})
        except (SecretsError, OSError) as error:
            get_logger().error("setup.store_failed", error=str(error))
            return refused(f"the credentials could not be stored ({error})", 500)
        get_logger().info("setup.registered", app_id=registered.app_id, slug=registered.slug)
        if setup.pending:
            settings = setup_flow.with_stored(setup.settings, setup.store.read())
            setup.settings = settings
            if setup.switch is not None and not await setup.switch(settings):
                restart_needed = True  # stored, but the service did not start: see its log
    install = setup_flow.install_url(setup.settings, registered)
    overridden = overridden_by_env(setup.settings, APP_CREDENTIALS)
    return setup_page.registered_page(registered.slug, install, web, restart_needed, overridden)


async def _model_key_of(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValueError("the body is too large")
    if request.headers.get("content-type", "").startswith("application/json"):
        document: Any = json.loads(body or b"null")
        key = document.get("key") if isinstance(document, dict) else None
    else:
        key = next(iter(parse_qs(body.decode("utf-8", "replace")).get("key", [])), None)
    if not isinstance(key, str) or not key.strip():
        raise ValueError("send the model key as `key` (JSON or a form field)")
    key = key.strip()
    if len(key) > MAX_MODEL_KEY_CHARS or not key.isprintable() or " " in key:
        raise ValueError("that is not a model key (one line of printable characters, no spaces)")
    return key


async def model_key(request: Request) -> Response:
    """Store the model key: in set-up mode, or with an API key holding the `admin` scope."""
    setup = setup_of(request)
    if not setup.pending:
        try:
            await require_key(request, "admin")
        except ApiError as error:
            return error_response(error.status, error.code, error.message)
    try:
        key = await _model_key_of(request)
    except (ValueError, UnicodeDecodeError) as error:
        return error_response(400, "bad_request", str(error))
    redact_also([key])
    setup.store.update({"ANTHROPIC_API_KEY": key})
    overridden = overridden_by_env(setup.settings, ("ANTHROPIC_API_KEY",))
    # In set-up mode nothing has read the key yet; a running service read it at start.
    used_now = setup.pending and not overridden
    if used_now:
        unset = dataclasses.replace(setup.settings, anthropic_api_key="")
        setup.settings = setup_flow.with_stored(unset, {"ANTHROPIC_API_KEY": key})
    get_logger().info("setup.model_key_stored", used_now=used_now)
    if overridden:
        used = f"never while {overridden[0]} is set in the environment"
    else:
        used = "now" if used_now else "after the next restart"
    return JSONResponse(
        {
            "stored": True,
            "used": used,
            "restart_required": not used_now and not overridden,
            "overridden_by_env": bool(overridden),
        }
    )


async def status(request: Request) -> Response:
    """What is configured and where each credential comes from: never a value."""
    setup = setup_of(request)
    settings = setup.settings
    sources = settings.value_sources
    return JSONResponse(
        {
            "mode": "setup" if setup.pending else "normal",
            "setup_open": setup.is_open(),
            "app_id": settings.app_id or None,
            "app_slug": settings.app_slug or None,
            "secrets": {
                name.lower(): sources.get(name)
                for name in ("WEBHOOK_SECRET", "PRIVATE_KEY", "CLIENT_SECRET", "ANTHROPIC_API_KEY")
            },
        }
    )


def setup_routes() -> list[Route]:
    return [
        Route("/", show_page, methods=["GET"]),
        Route("/setup", show_page, methods=["GET"]),
        Route(setup_flow.CALLBACK_PATH, callback, methods=["GET"]),
        Route("/setup/model-key", model_key, methods=["POST"]),
        Route("/setup/status", status, methods=["GET"]),
    ]
