"""`GET /v1/workers`: the worker processes in the registry (app/workers_registry.py), read with
a key that has `audit:read`: where jobs run is an operator's concern, not a task client's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.auth import require_key
from app.api.context import api_state
from app.api.schemas import json_response, model_schemas, operation, ref
from app.workers_registry import worker_view

WORKERS_PATH = "/v1/workers"
SCOPE = "audit:read"


class Worker(BaseModel):
    """One worker process, as it last reported itself."""

    id: str = Field(description="host:pid:nonce; its workers lease jobs as `<id>/<n>`")
    host: str
    pid: int
    engine: str = Field(description="the Docker engine its sandboxes run on (DOCKER_HOST)")
    capacity: int = Field(description="jobs it may run at once (FIXWRIGHT_WORKERS)")
    running: list[str] = Field(description="the ids of the jobs it runs")
    status: str = Field(description="`alive`, or `lost` once it missed 3 heartbeats")
    started_at: float = Field(description="Unix time")
    heartbeat_at: float = Field(description="Unix time of its last heartbeat")
    heartbeat_age_seconds: float
    lost_at: float | None = Field(description="Unix time it was marked lost, if it was")


class Workers(BaseModel):
    """Every registered worker process, the longest-running first."""

    workers: list[Worker]


async def list_workers(request: Request) -> Response:
    await require_key(request, SCOPE)
    state = api_state(request)
    now = state.clock()
    workers = await state.store.workers()
    return JSONResponse({"workers": [worker_view(w, now, state.settings) for w in workers]})


ROUTES: list[BaseRoute] = [Route(WORKERS_PATH, list_workers, methods=["GET"])]
SCHEMAS = model_schemas(Workers)
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    WORKERS_PATH: {
        "get": operation(
            "List the worker processes",
            SCOPE,
            operation_id="listWorkers",
            description="Each worker process that heartbeats into the store: its host, its "
            "Docker engine, how many jobs it may run and which it runs. A process stopped on "
            "purpose leaves the list; one that missed its heartbeats stays a day as `lost`.",
            responses={"200": json_response("The worker processes", ref("Workers"))},
        )
    }
}
