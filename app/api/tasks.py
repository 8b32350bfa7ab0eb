"""The API's tasks routes (declared here, collected by `app.api.routes`)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
# OpenAPI path → method → operation object (see `app.api.openapi`).
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}
