"""`GET /health`: one probe per dependency, summed up as healthy, degraded or unhealthy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from docker.errors import DockerException, ImageNotFound
from githubkit.exception import GitHubException

from app.config import Settings
from app.github_app import GitHubApp, GitHubAuthError
from app.store.model import Store

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
GITHUB_CHECK_INTERVAL = 60.0  # GET /app at most once a minute
CLI_VERSION_LABEL = "io.fixwright.claude-code-version"
# Without these the service cannot take or keep work at all.
VITAL = frozenset({"store", "workers"})


@dataclass(frozen=True)
class Component:
    status: str
    message: str


def overall_status(components: Mapping[str, Component]) -> str:
    """Unhealthy when a vital part fails, degraded when any other does, else healthy."""
    statuses = {name: c.status for name, c in components.items()}
    if any(statuses.get(name) == UNHEALTHY for name in VITAL):
        return UNHEALTHY
    return HEALTHY if all(s == HEALTHY for s in statuses.values()) else DEGRADED


def service_version() -> str:
    try:
        return version("fixwright")
    except PackageNotFoundError:
        return "unknown"


async def check_store(store: Store) -> Component:
    try:
        await store.ping()
    except Exception as error:  # any failure is the answer, never a crash of /health
        return Component(UNHEALTHY, f"store query failed ({type(error).__name__})")
    return Component(HEALTHY, "a query answered")


async def check_docker(docker_client: Any) -> Component:
    if docker_client is None:
        return Component(DEGRADED, "no Docker engine: jobs that need the sandbox fail")
    try:
        await asyncio.to_thread(docker_client.ping)
    except DockerException as error:
        return Component(DEGRADED, f"the Docker engine does not answer ({type(error).__name__})")
    return Component(HEALTHY, "the engine answered a ping")


async def check_image(docker_client: Any, settings: Settings) -> Component:
    if docker_client is None:
        return Component(DEGRADED, "no Docker engine to hold the sandbox image")
    try:
        image = await asyncio.to_thread(docker_client.images.get, settings.sandbox_image)
    except ImageNotFound:
        return Component(
            DEGRADED, f"{settings.sandbox_image} is missing: run `fixwright sandbox build`"
        )
    except DockerException as error:
        return Component(DEGRADED, f"the image could not be read ({type(error).__name__})")
    cli = (image.labels or {}).get(CLI_VERSION_LABEL, "unknown")
    return Component(HEALTHY, f"{settings.sandbox_image} present, Claude Code {cli}")


def check_relay(settings: Settings, sandbox: Any) -> Component:
    if not settings.anthropic_api_key:
        return Component(DEGRADED, "no model key configured (FIXWRIGHT_ANTHROPIC_API_KEY)")
    if sandbox is None:
        return Component(DEGRADED, "configured, but not started (no Docker engine)")
    return Component(HEALTHY, "configured and listening")


def check_workers(pool: Any, settings: Settings) -> Component:
    if settings.workers == 0:
        return Component(HEALTHY, "no workers on this node (intake only)")
    alive = pool.alive_workers()
    if alive == 0:
        return Component(UNHEALTHY, f"0 of {settings.workers} workers alive")
    status = HEALTHY if alive == settings.workers else DEGRADED
    return Component(status, f"{alive} of {settings.workers} alive, {pool.busy} busy")


@dataclass
class GitHubAppCheck:
    """Asks GitHub whether it accepts the App's JWT, remembering the answer for a minute."""

    settings: Settings
    clock: Callable[[], float] = time.monotonic
    _last: tuple[float, Component] | None = field(default=None, init=False)

    async def __call__(self) -> Component:
        if not (self.settings.app_id and self.settings.private_key):
            return Component(DEGRADED, "the App is not configured (FIXWRIGHT_APP_ID, key)")
        now = self.clock()
        if self._last is None or now - self._last[0] >= GITHUB_CHECK_INTERVAL:
            self._last = (now, await self._ask())
        return self._last[1]

    async def _ask(self) -> Component:
        client = GitHubApp(self.settings).app_client()  # held: githubkit keeps a weak reference
        try:
            app = (await client.rest.apps.async_get_authenticated()).parsed_data
        except (GitHubException, GitHubAuthError) as error:
            return Component(
                DEGRADED, f"GET /app with the App's JWT failed ({type(error).__name__})"
            )
        return Component(HEALTHY, f"GitHub accepts the JWT of App {app.slug or app.id}")


@dataclass
class HealthReport:
    """What /health says; `brief()` is what a caller without the token sees."""

    status: str
    timestamp: str
    uptime_seconds: float
    version: str
    components: dict[str, Component]

    def full(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "timestamp": self.timestamp,
            "uptime": round(self.uptime_seconds, 1),
            "version": self.version,
            "components": {
                name: {"status": c.status, "message": c.message}
                for name, c in self.components.items()
            },
        }

    def brief(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "timestamp": self.timestamp,
            "components": {name: {"status": c.status} for name, c in self.components.items()},
        }


async def _not_used() -> Component:
    return Component(HEALTHY, "not used: this node runs no workers")


async def health_report(
    *,
    settings: Settings,
    store: Store,
    docker_client: Any,
    sandbox: Any,
    pool: Any,
    github_check: Callable[[], Awaitable[Component]],
    started: float,
) -> HealthReport:
    """Probe every dependency at once."""
    store_c, docker_c, image_c, github_c = await asyncio.gather(
        check_store(store),
        check_docker(docker_client) if settings.workers else _not_used(),
        check_image(docker_client, settings) if settings.workers else _not_used(),
        github_check(),
    )
    components = {
        "store": store_c,
        "docker": docker_c,
        "sandbox_image": image_c,
        "github_app": github_c,
        "model_relay": check_relay(settings, sandbox),
        "workers": check_workers(pool, settings),
    }
    return HealthReport(
        status=overall_status(components),
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        uptime_seconds=time.monotonic() - started,
        version=service_version(),
        components=components,
    )
