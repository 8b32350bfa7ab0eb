"""The operator's routes: /health, /metrics, /metrics/prometheus and /quota."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import docker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.config import Settings
from app.errors import error_response
from app.health import STARTING, UNHEALTHY, HealthMonitor, health_monitor, health_report
from app.metrics import Metrics, refresh_cluster_gauges
from app.outcome_metrics import refresh_pull_request_gauge
from app.quota import Usage, day_of, decide, headroom, limits_from, next_midnight
from app.store.model import DailyUsage, Store

if TYPE_CHECKING:
    from app.sandbox_service import ServiceSandbox
    from app.worker import WorkerPool

DAILY_LIMITS = {"tokens_per_day": "tokens", "cost_per_day_usd": "cost_usd"}
# /health answers 503 for these: a probe should send no traffic yet.
NOT_READY = frozenset({UNHEALTHY, STARTING})


@dataclass
class Ops:
    """What the operator's routes read: built in the service's lifespan."""

    settings: Settings
    store: Store
    metrics: Metrics
    pool: WorkerPool
    docker_client: docker.DockerClient | None = None
    sandbox: ServiceSandbox | None = None
    started: float = field(default_factory=time.monotonic)
    # Its checks run from the service's start to its stop (see `app.web`).
    health: HealthMonitor = field(init=False)

    def __post_init__(self) -> None:
        self.health = health_monitor(
            self.settings, self.store, self.docker_client, self.sandbox, self.pool
        )


def authorized(request: Request, settings: Settings) -> bool:
    """True without a configured token, else only for `Authorization: Bearer <token>`."""
    if not settings.metrics_token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), settings.metrics_token.encode()
    )


def unauthorized() -> Response:
    response = error_response(
        401, "unauthorized", "this endpoint needs `Authorization: Bearer <FIXWRIGHT_METRICS_TOKEN>`"
    )
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def ops_of(request: Request) -> Ops:
    ops: Ops = request.app.state.ops
    return ops


async def health(request: Request) -> Response:
    """The checks' last readings: answered at once, whatever a dependency is doing."""
    ops = ops_of(request)
    report = health_report(ops.health, ops.started)
    body = report.full() if authorized(request, ops.settings) else report.brief()
    return JSONResponse(body, status_code=503 if report.status in NOT_READY else 200)


async def refresh_gauges(ops: Ops, now: datetime) -> None:
    """Set the gauges read from the store (the cluster's queue and workers, quota headroom)
    just before a scrape."""
    await refresh_cluster_gauges(ops.store, ops.metrics, now.timestamp())
    for row in await ops.store.usage_on(day_of(now)):
        limits = limits_from(ops.settings, row.installation_id)
        for limit_name, column in DAILY_LIMITS.items():
            limit = getattr(limits, limit_name)
            if limit:
                left = max(0.0, 1.0 - getattr(row, column) / limit)
                ops.metrics.quota_remaining_ratio.labels(
                    installation=str(row.installation_id), limit=limit_name
                ).set(left)
    await refresh_pull_request_gauge(ops.store, ops.metrics)


async def prometheus(request: Request) -> Response:
    ops = ops_of(request)
    if not authorized(request, ops.settings):
        return unauthorized()
    await refresh_gauges(ops, datetime.now(UTC))
    return Response(generate_latest(ops.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def metrics_summary(metrics: Metrics) -> dict[str, Any]:
    """Every sample of every metric, as {family: [{"name", "labels", "value"}]}."""
    summary: dict[str, Any] = {}
    for family in metrics.registry.collect():
        summary[family.name] = {
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": s.value}
                for s in family.samples
                if not s.name.endswith("_created")
            ],
        }
    return summary


async def metrics_json(request: Request) -> Response:
    ops = ops_of(request)
    if not authorized(request, ops.settings):
        return unauthorized()
    await refresh_gauges(ops, datetime.now(UTC))
    return JSONResponse(metrics_summary(ops.metrics))


def installation_quota(
    settings: Settings, installation_id: int, spent: DailyUsage | None, active: int, now: datetime
) -> dict[str, Any]:
    """One installation's day: used / max / remaining, and whether a job may start now."""
    limits = limits_from(settings, installation_id)
    usage = Usage(
        tokens_today=spent.tokens if spent else 0,
        cost_today_usd=spent.cost_usd if spent else 0.0,
        active_jobs=active,
    )
    decision = decide(limits, usage, now)
    entry: dict[str, Any] = {"installation_id": installation_id, **headroom(limits, usage)}
    entry["allowed"] = decision.allowed
    if not decision.allowed:
        entry["reason"] = f"{decision.limit_name}: {decision.reason}"
        entry["resets_at"] = (
            decision.resets_at.isoformat(timespec="seconds") if decision.resets_at else None
        )
    return entry


async def quota(request: Request) -> Response:
    ops = ops_of(request)
    if not authorized(request, ops.settings):
        return unauthorized()
    now = datetime.now(UTC)
    spent = {row.installation_id: row for row in await ops.store.usage_on(day_of(now))}
    running = await ops.store.running_by_installation()
    wanted = request.query_params.get("installation", "")
    if wanted and not wanted.isdigit():
        return error_response(400, "invalid_installation", "installation must be a numeric id")
    ids = (
        [int(wanted)]
        if wanted
        else sorted({*spent, *running, *ops.settings.quota_installations} - {0})
    )
    return JSONResponse(
        {
            "day": day_of(now),
            "resets_at": next_midnight(now).isoformat(timespec="seconds"),
            "installations": [
                installation_quota(ops.settings, i, spent.get(i), running.get(i, 0), now)
                for i in ids
            ],
        }
    )


def ops_routes() -> list[Route]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_json, methods=["GET"]),
        Route("/metrics/prometheus", prometheus, methods=["GET"]),
        Route("/quota", quota, methods=["GET"]),
    ]
