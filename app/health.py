"""`GET /health`: one check per dependency, run in the background, summed up as healthy, degraded
or unhealthy.

The checks that wait on something (the store, the Docker engine, GitHub) run on schedules of
their own, started with the service, and /health answers from their last readings with the age of
each: a GitHub that does not answer must not make the probe itself time out (Docker's and
Kubernetes' default probe timeouts are a few seconds or less).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import docker
from docker.errors import DockerException, ImageNotFound
from githubkit.exception import GitHubException

from app import workers_registry
from app.config import Settings
from app.github_app import GitHubApp, GitHubAuthError
from app.log import get_logger
from app.store.model import Store

if TYPE_CHECKING:
    from app.sandbox_service import ServiceSandbox
    from app.worker import WorkerPool

HEALTHY, DEGRADED, UNHEALTHY, STARTING = "healthy", "degraded", "unhealthy", "starting"
# The local checks (store, Docker engine, sandbox image) every few seconds; GET /app once a minute.
REFRESH_SECONDS = 5.0
GITHUB_CHECK_INTERVAL = 60.0
# A check that has not answered by then is reported as failed until it does (GET /app gives up
# then; the Docker client's own timeout and the store's lock patience bound the others).
CHECK_TIMEOUT_SECONDS = 5.0
CLI_VERSION_LABEL = "io.fixwright.claude-code-version"
# Without these the service cannot take or keep work at all.
VITAL = frozenset({"store", "workers"})


@dataclass(frozen=True)
class Component:
    status: str
    message: str


def overall_status(components: Mapping[str, Component]) -> str:
    """Unhealthy when a vital part fails, starting until every vital part has been checked once,
    degraded when any other part fails (or is not checked yet), else healthy."""
    statuses = {name: c.status for name, c in components.items()}
    if any(statuses.get(name) == UNHEALTHY for name in VITAL):
        return UNHEALTHY
    if any(statuses.get(name) == STARTING for name in VITAL):
        return STARTING
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


async def check_docker(docker_client: docker.DockerClient | None) -> Component:
    if docker_client is None:
        return Component(DEGRADED, "no Docker engine: jobs that need the sandbox fail")
    try:
        await asyncio.to_thread(docker_client.ping)
    except DockerException as error:
        return Component(DEGRADED, f"the Docker engine does not answer ({type(error).__name__})")
    return Component(HEALTHY, "the engine answered a ping")


async def check_image(docker_client: docker.DockerClient | None, settings: Settings) -> Component:
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


async def check_github_app(settings: Settings) -> Component:
    """Whether GitHub accepts the App's JWT (GET /app)."""
    if not (settings.app_id and settings.private_key):
        return Component(DEGRADED, "the App is not configured (FIXWRIGHT_APP_ID, key)")
    client = GitHubApp(settings).app_client()  # held: githubkit keeps a weak reference
    try:
        answer = client.rest.apps.async_get_authenticated()
        app = (await asyncio.wait_for(answer, CHECK_TIMEOUT_SECONDS)).parsed_data
    except TimeoutError:
        return Component(
            DEGRADED, f"GitHub did not answer GET /app within {CHECK_TIMEOUT_SECONDS:g} s"
        )
    except (GitHubException, GitHubAuthError) as error:
        return Component(DEGRADED, f"GET /app with the App's JWT failed ({type(error).__name__})")
    if app is None:  # GitHub's schema allows it; GitHub has not been seen to answer so
        return Component(DEGRADED, "GitHub answered GET /app with no App")
    return Component(HEALTHY, f"GitHub accepts the JWT of App {app.slug or app.id}")


def check_relay(settings: Settings, sandbox: ServiceSandbox | None) -> Component:
    if not settings.anthropic_api_key:
        return Component(DEGRADED, "no model key configured (FIXWRIGHT_ANTHROPIC_API_KEY)")
    if sandbox is None:
        return Component(DEGRADED, "configured, but not started (no Docker engine)")
    return Component(HEALTHY, "configured and listening")


def check_workers(pool: WorkerPool, settings: Settings) -> Component:
    if settings.workers == 0:
        return Component(HEALTHY, "no workers on this node (intake only)")
    alive = pool.alive_workers()
    if alive == 0:
        return Component(UNHEALTHY, f"0 of {settings.workers} workers alive")
    status = HEALTHY if alive == settings.workers else DEGRADED
    return Component(status, f"{alive} of {settings.workers} alive, {pool.busy} busy")


async def check_registered_workers(store: Store, settings: Settings) -> Component:
    """On a node without workers: the worker processes alive in the registry. None alive is
    degraded, not unhealthy: this node still takes deliveries, which wait in the queue."""
    workers = workers_registry.alive(await store.workers(), time.time(), settings)
    if not workers:
        return Component(DEGRADED, "0 worker processes alive: jobs wait in the queue")
    capacity = sum(worker.capacity for worker in workers)
    running = sum(len(worker.running) for worker in workers)
    return Component(
        HEALTHY,
        f"{len(workers)} worker processes alive elsewhere, {capacity} workers, {running} busy",
    )


NOT_USED = Component(HEALTHY, "not used: this node runs no workers")


@dataclass(frozen=True)
class Schedule:
    """A check that waits on something: how often it runs, and what a failure to answer means."""

    check: Callable[[], Awaitable[Component]]
    every: float = REFRESH_SECONDS
    failed: str = DEGRADED  # the status when it raises or does not answer in time
    timeout: float = CHECK_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Reading:
    """A component as last checked; `at` (wall-clock seconds) is None before its first check."""

    component: Component
    at: float | None


NOT_CHECKED = Reading(Component(STARTING, "not checked yet"), None)


async def run_check(schedule: Schedule) -> Component:
    """One run of a check, whatever happens: its answer, or why there is none."""
    try:
        return await schedule.check()
    # The boundary of a background check: a failure is its reading, never the end of the loop.
    except Exception as error:
        get_logger().warning("health.check_failed", error=repr(error))
        return Component(schedule.failed, f"the check failed ({type(error).__name__})")


@dataclass
class HealthMonitor:
    """Runs each scheduled check in a loop of its own and keeps its last reading; `live` checks
    read memory only and run on each request."""

    schedules: Mapping[str, Schedule]
    live: Mapping[str, Callable[[], Component]]
    clock: Callable[[], float] = time.time
    readings: dict[str, Reading] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for name, schedule in self.schedules.items():
            self._tasks.append(asyncio.create_task(self._keep_checking(name, schedule)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _keep_checking(self, name: str, schedule: Schedule) -> None:
        while True:
            check = asyncio.create_task(run_check(schedule))
            try:
                done, _ = await asyncio.wait({check}, timeout=schedule.timeout)
                if not done:
                    # Said now, and the check left to finish: a thread blocked on a hung Docker
                    # engine cannot be stopped, and starting another beside it would pile them up.
                    late = f"no answer within {schedule.timeout:g} s"
                    self._record(name, Component(schedule.failed, late))
                self._record(name, await check)
            finally:
                check.cancel()
            await asyncio.sleep(schedule.every)

    def _record(self, name: str, component: Component) -> None:
        self.readings[name] = Reading(component, self.clock())

    def now(self) -> dict[str, Reading]:
        """Every component: the last reading of each scheduled one, and the live ones now."""
        at = self.clock()
        scheduled = {name: self.readings.get(name, NOT_CHECKED) for name in self.schedules}
        return {**scheduled, **{name: Reading(check(), at) for name, check in self.live.items()}}


def health_monitor(
    settings: Settings,
    store: Store,
    docker_client: docker.DockerClient | None,
    sandbox: ServiceSandbox | None,
    pool: WorkerPool,
) -> HealthMonitor:
    """The service's checks: what each reads, and how often."""
    schedules = {
        "store": Schedule(lambda: check_store(store), failed=UNHEALTHY),
        "docker": Schedule(lambda: check_docker(docker_client)),
        "sandbox_image": Schedule(lambda: check_image(docker_client, settings)),
        "github_app": Schedule(lambda: check_github_app(settings), every=GITHUB_CHECK_INTERVAL),
    }
    live = {
        "model_relay": lambda: check_relay(settings, sandbox),
        "workers": lambda: check_workers(pool, settings),
        # Not a probe: where fixes are pushed, and what push-triggered CI must leave out.
        "work_branches": lambda: Component(HEALTHY, settings.push_filter_reminder()),
    }
    if not settings.workers:  # an intake-only node never uses the engine: nothing to ask it
        del schedules["docker"], schedules["sandbox_image"]
        live = {"docker": lambda: NOT_USED, "sandbox_image": lambda: NOT_USED, **live}
        live["model_relay"] = lambda: NOT_USED  # the relay runs beside the sandboxes
        # Its jobs run on worker nodes: the registry says how many are alive.
        del live["workers"]
        schedules["workers"] = Schedule(lambda: check_registered_workers(store, settings))
    return HealthMonitor(schedules, live)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


@dataclass
class HealthReport:
    """What /health says; `brief()` is what a caller without the token sees."""

    status: str
    at: float
    uptime_seconds: float
    version: str
    readings: dict[str, Reading]

    def full(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "timestamp": iso(self.at),
            "uptime": round(self.uptime_seconds, 1),
            "version": self.version,
            "components": {name: self._detail(r) for name, r in self.readings.items()},
        }

    def brief(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "timestamp": iso(self.at),
            "components": {
                name: {"status": r.component.status} for name, r in self.readings.items()
            },
        }

    def _detail(self, reading: Reading) -> dict[str, Any]:
        checked = reading.at
        return {
            "status": reading.component.status,
            "message": reading.component.message,
            "checked_at": iso(checked) if checked is not None else None,
            "age_seconds": round(max(0.0, self.at - checked), 1) if checked is not None else None,
        }


def health_report(monitor: HealthMonitor, started: float) -> HealthReport:
    """The report from the monitor's last readings: no waiting on any dependency."""
    readings = monitor.now()
    return HealthReport(
        status=overall_status({name: r.component for name, r in readings.items()}),
        at=monitor.clock(),
        uptime_seconds=time.monotonic() - started,
        version=service_version(),
        readings=readings,
    )
