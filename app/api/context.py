"""What the API's routes read: the service's parts, built once in its lifespan (`app.web`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from app.api.errors import ApiError
from app.api.rate_limit import RateLimiter
from app.config import Settings
from app.event_hub import EventHub
from app.metrics import Metrics
from app.routing import Registry
from app.store.model import Store

if TYPE_CHECKING:
    from app.worker import WorkerPool


@dataclass
class ApiState:
    """The service's parts the routes use; `app.state.api` holds it while the service runs.

    `hub` is the event hub that wakes streams when a job's log grows (`app.event_hub`);
    `limiter` counts each key's requests in this process (`app.api.rate_limit`).
    """

    settings: Settings
    store: Store
    metrics: Metrics
    registry: Registry
    pool: WorkerPool
    hub: EventHub = field(default_factory=EventHub)
    clock: Callable[[], float] = time.time
    limiter: RateLimiter = field(default_factory=RateLimiter)


def api_state(request: Request) -> ApiState:
    """The running service's parts; 503 while it is starting or stopping."""
    state = getattr(request.app.state, "api", None)
    if not isinstance(state, ApiState):
        raise ApiError(503, "unavailable", "the service is starting or stopping: try again soon")
    return state
