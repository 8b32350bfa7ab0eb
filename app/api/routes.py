"""Every route of the API under `/v1`, collected from the modules that declare them."""

from __future__ import annotations

from starlette.routing import BaseRoute

from app.api import audit, events, schedules, stats, tasks, webhook_deliveries, workers

ROUTE_MODULES = (tasks, events, webhook_deliveries, audit, stats, workers, schedules)


def api_routes() -> list[BaseRoute]:
    """The routes of every API module, in a fixed order (tasks first)."""
    return [route for module in ROUTE_MODULES for route in module.ROUTES]
