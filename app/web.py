"""The Starlette application: webhook intake, health and metrics, with the worker pool in its lifespan.

What one process runs is its role (FIXWRIGHT_ROLE): `all` of it; `web`, the intake, the API and
the pages with no workers (and no Docker engine); `worker`, the workers with the lease reaper,
answering only /health and the metrics routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import docker
from docker.errors import DockerException
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.api.context import ApiState
from app.api.mount import create_api, is_api_path
from app.app_slug import with_app_slug
from app.approval_routes import approval_routes
from app.config import Settings
from app.errors import error_body, error_response
from app.event_hub import EventHub
from app.github_app import GitHubApp
from app.github_connect import GitHubConnector, connect_with
from app.github_warmup import warm_up_github
from app.intake import Intake
from app.job_page import job_page_routes
from app.log import get_logger
from app.metrics import Metrics, create_metrics, start_job_series
from app.ops_routes import Ops, ops_routes
from app.outgoing_webhooks import WebhookSender
from app.reconcile import reconcile_periodically
from app.retention import sweep_periodically
from app.routing import Registry
from app.sandbox_service import ServiceSandbox, host_workspaces, open_sandbox
from app.scheduler import start_scheduler
from app.secrets_store import SecretsStore
from app.setup_routes import SETUP_PATHS, SetupService, setup_routes
from app.store import Store, open_store
from app.webhook_endpoint import (
    INTERNAL_ERROR,
    WEBHOOK_PATH,
    Receive,
    Scope,
    Send,
    WebhookEndpoint,
    send_json,
)
from app.worker import WorkerPool


def docker_engine() -> docker.DockerClient | None:
    """The local Docker engine, or None (logged) when none answers: intake still works without it."""
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as error:
        get_logger().warning(
            "sandbox.docker_unavailable",
            error=str(error),
            remedy="start dockerd or set DOCKER_HOST; jobs that need the sandbox will fail",
        )
        return None
    return client


def blocking_call_threads(workers: int) -> ThreadPoolExecutor:
    """Threads for `asyncio.to_thread`: sized for the jobs, not for the CPU count.

    Each running job holds two threads for its whole run (the container's exit and its output
    stream) and a third for git and docker-py calls; the default pool (CPUs + 4) would let a few
    jobs starve the rest. Threads start only when needed.
    """
    return ThreadPoolExecutor(max_workers=3 * workers + 8, thread_name_prefix="fixwright-io")


@dataclass
class Service:
    """The parts built at start, shared by the routes and the workers."""

    settings: Settings
    store: Store
    registry: Registry
    metrics: Metrics
    pool: WorkerPool


WEBHOOK_PATHS = frozenset({WEBHOOK_PATH, WEBHOOK_PATH + "/"})
# All a worker node answers: it takes no deliveries and serves no API or page.
WORKER_PATHS = frozenset({"/health", "/metrics", "/metrics/prometheus"})
NOT_ON_WORKER = "this is a worker node: it answers only /health, /metrics and /metrics/prometheus"
SETUP_REQUIRED = (
    "fixwright is not set up yet: open this service's page (/setup) to register the GitHub App"
)


class FrontDoor:
    """The ASGI app served: deliveries go straight to the intake, everything else to Starlette.

    POST /webhooks/github is the hot path; Starlette's middleware, routing, request and response
    objects cost about a sixth of each delivery's time (docs/benchmarks.md). Other methods on that
    path still reach Starlette, which answers 405. The path is served with a trailing slash too:
    GitHub follows no redirect, so a URL typed that way would fail every delivery.
    """

    def __init__(
        self, app: Starlette, webhook: WebhookEndpoint, api: Any = None, *, worker: bool = False
    ) -> None:
        self.app = app
        self._webhook = webhook
        self._api = api  # the API under /v1 (app/api/), with its own middleware and errors
        self._worker = worker  # a worker node: everything but health and metrics is 404

    @property
    def state(self) -> State:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._worker and scope["type"] == "http" and scope["path"] not in WORKER_PATHS:
            await send_json(send, 404, error_body("not_found", NOT_ON_WORKER))
            return
        setup: SetupService | None = getattr(self.app.state, "setup", None)
        if scope["type"] == "http" and setup and setup.pending and scope["path"] not in SETUP_PATHS:
            # Set-up mode: no intake, no workers, no API until the App is registered. The process
            # is alive and its page must stay reachable: health checks and load balancers see 200.
            if scope["path"] == "/health":
                await send_json(send, 200, {"status": "setup_required", "message": SETUP_REQUIRED})
            else:
                await send_json(send, 503, error_body("setup_required", SETUP_REQUIRED))
            return
        if scope["type"] == "http" and scope["path"] in WEBHOOK_PATHS and scope["method"] == "POST":
            await self._webhook(scope, receive, send)
        elif self._api is not None and scope["type"] == "http" and is_api_path(scope["path"]):
            await self._api(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def prepare_process(workers: int) -> None:
    """What the process does once before serving, so first deliveries and jobs do not stall."""
    # githubkit's first imports would stall deliveries in the first jobs: made now.
    warm_up_github()
    # Everything imported so far (githubkit's models above all) lives as long as the process:
    # kept out of the collector, so a full collection no longer stalls requests for tens of ms.
    gc.freeze()
    asyncio.get_running_loop().set_default_executor(blocking_call_threads(workers))


def default_store(settings: Settings) -> Store:
    return open_store(
        settings.store_url,
        max_attempts=settings.job_max_attempts,
        sync=settings.store_sync,
        pool_size=settings.store_pool_size,
    )


async def open_engine_sandbox(
    stack: contextlib.AsyncExitStack, settings: Settings, store: Store, metrics: Metrics
) -> tuple[docker.DockerClient | None, ServiceSandbox | None]:
    """This node's Docker engine and the sandbox on it (the model relay running), or (None, None)
    on an intake-only node or when no engine answers; both closed with `stack`."""
    docker_client = await asyncio.to_thread(docker_engine) if settings.workers else None
    if docker_client is None:
        return None, None
    stack.callback(docker_client.close)
    sandbox = await stack.enter_async_context(
        open_sandbox(settings, docker_client, store=store, metrics=metrics)
    )
    return docker_client, sandbox


def start_background_tasks(
    stack: contextlib.AsyncExitStack, settings: Settings, store: Store, metrics: Metrics
) -> None:
    """The reconciler (where deliveries are taken), the retention sweep and the outgoing
    webhooks' sender, each cancelled with `stack`."""
    if settings.reconcile_interval_seconds and settings.role != "worker":
        reconciler = asyncio.create_task(
            reconcile_periodically(
                GitHubApp(settings).app_client(),
                store,
                metrics,
                settings.reconcile_interval_seconds,
            )
        )
        stack.callback(reconciler.cancel)
    if settings.retention_days:
        sweeper = asyncio.create_task(sweep_periodically(store, settings, metrics))
        stack.callback(sweeper.cancel)
    # Deliveries are in the store: what was queued before a restart is sent after it.
    webhooks = asyncio.create_task(WebhookSender(settings, store, metrics=metrics).run())
    stack.callback(webhooks.cancel)


@dataclass(frozen=True)
class Wiring:
    """What the service is made of, decided before it starts."""

    settings: Settings
    registry: Registry
    metrics: Metrics
    connect: GitHubConnector
    store_factory: Callable[[], Store]
    # The connector for settings learned at set-up (the App registered without a restart).
    reconnect: Callable[[Settings], GitHubConnector] = connect_with


@contextlib.asynccontextmanager
async def run_service(app: Starlette, wiring: Wiring) -> AsyncIterator[None]:
    """The service's lifespan; in set-up mode (no App credentials) only the set-up page answers
    until the App is registered, then the service starts with the stored credentials."""
    if not wiring.settings.needs_setup():
        async with run_configured(app, wiring):
            yield
        return
    get_logger().warning("service.setup_mode", remedy=SETUP_REQUIRED)
    registered: asyncio.Future[Settings] = asyncio.get_running_loop().create_future()
    running, stopping = asyncio.Event(), asyncio.Event()

    async def after_setup() -> None:
        settings = await registered
        switched = replace(wiring, settings=settings, connect=wiring.reconnect(settings))
        async with run_configured(app, switched):
            running.set()
            await stopping.wait()

    task = asyncio.create_task(after_setup())

    async def switch(settings: Settings) -> bool:
        """Start the service with the new settings; True once it runs, False if it failed."""
        registered.set_result(settings)
        started = asyncio.create_task(running.wait())
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if task.done() and not task.cancelled() and task.exception() is not None:
            get_logger().error("service.start_failed", error=repr(task.exception()))
        return running.is_set()

    app.state.setup.switch = switch
    try:
        yield
    finally:
        stopping.set()
        if not registered.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def run_configured(app: Starlette, wiring: Wiring) -> AsyncIterator[None]:
    """The service: the store, the sandbox, the workers, the intake and the background tasks
    start in that order, and stop in the reverse one."""
    metrics = wiring.metrics
    settings = wiring.settings
    if settings.role == "web":  # the intake and the API only: jobs run on worker nodes
        settings = replace(settings, workers=0)
    prepare_process(settings.workers)
    # Before any delivery is taken: the intake recognises questions by the App's slug.
    settings = await with_app_slug(settings, get_logger())
    store = wiring.store_factory()
    async with contextlib.AsyncExitStack() as stack:
        docker_client, sandbox = await open_engine_sandbox(stack, settings, store, metrics)
        stack.push_async_callback(store.close)
        pool = WorkerPool(
            settings=settings,
            store=store,
            registry=wiring.registry,
            connect=wiring.connect,
            metrics=metrics,
            workspaces=host_workspaces(settings),
            sandbox_for=sandbox.with_settings if sandbox else None,
            docker_client=docker_client,
        )
        app.state.service = Service(settings, store, wiring.registry, metrics, pool)
        if settings.workers:
            # Idle workers wake when a job may be leasable: queued or freed here, or on
            # PostgreSQL by any node; they still poll, in case a notification is missed.
            store.watch_jobs(pool.wake)
        hub = EventHub()  # wakes the event streams when a job's log grows
        store.watch_events(hub.notify)
        app.state.api = ApiState(settings, store, metrics, wiring.registry, pool, hub=hub)
        app.state.ops = Ops(settings, store, metrics, pool, docker_client, sandbox)
        app.state.ops.health.start()  # stopped before the store closes
        stack.push_async_callback(app.state.ops.health.stop)
        app.state.intake = Intake(
            settings, store, wiring.registry, metrics, pool.wake, stopping=lambda: pool.draining
        )
        await pool.start()
        stack.push_async_callback(pool.stop)
        start_background_tasks(stack, settings, store, metrics)
        scheduler = start_scheduler(settings, store, wiring.registry, pool.wake)  # worker nodes
        stack.callback(lambda: scheduler and scheduler.cancel())
        get_logger().info(
            "service.started",
            role=settings.role,
            workers=settings.workers,
            store=settings.store_url.split(":")[0],
            store_sync=getattr(store, "synchronous", None),
            branch_prefix=settings.branch_prefix,
            push_workflows=settings.push_filter_reminder(),
        )
        # What start-up made (the store, the sandbox, the app and the modules it imported) lives
        # as long as the process too: frozen, or the first full collection under load walks it
        # all on the loop, one delivery waiting 70 to 120 ms (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        yield
    get_logger().info("service.stopped")


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return error_response(
        error.status_code, code, f"{request.method} {request.url.path}: {error.detail}"
    )


async def server_error(request: Request, error: Exception) -> Response:
    get_logger().error("request.failed", path=request.url.path, error=repr(error))
    return error_response(500, "internal_error", INTERNAL_ERROR)


def create_app(
    settings: Settings,
    registry: Registry,
    *,
    connect: GitHubConnector | None = None,
    store_factory: Callable[[], Store] | None = None,
) -> FrontDoor:
    """The ASGI app; the store and workers start with it and stop with it."""
    metrics = create_metrics()
    start_job_series(metrics, sorted(registry.kinds))
    wiring = Wiring(
        settings,
        registry,
        metrics,
        connect or connect_with(settings),
        store_factory or (lambda: default_store(settings)),
        (lambda _: connect) if connect else connect_with,
    )
    app = Starlette(
        lifespan=lambda app: run_service(app, wiring),
        exception_handlers={HTTPException: http_error, 500: server_error},
    )
    webhook = WebhookEndpoint(lambda: app.state.intake)
    app.state.setup = SetupService(settings, SecretsStore(settings.state_dir, settings.secrets_key))
    app.router.routes.extend(
        [
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            *ops_routes(),
            *job_page_routes(),
            *setup_routes(),
        ]
    )
    # Approvals answer under /v1 in their own way; they share the API's request ids and CORS.
    api = create_api(app.state, settings.api_cors_origins, extra=approval_routes())
    return FrontDoor(app, webhook, api, worker=settings.role == "worker")
