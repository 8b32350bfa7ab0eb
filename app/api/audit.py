"""`GET /v1/audit`: the audit trail, read with a key that has `audit:read`."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}
