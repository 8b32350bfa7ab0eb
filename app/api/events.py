"""The job event log as Server-Sent Events: `GET /v1/tasks/{id}/events`."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}
