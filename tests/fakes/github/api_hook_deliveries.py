"""The fake's App webhook delivery log: listing attempts (cursor-paginated) and asking for redelivery."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.github import payloads
from tests.fakes.github.auth import ApiError, verify_app_jwt
from tests.fakes.github.respond import state_of


@dataclass
class HookDelivery:
    """One attempt to deliver an event (a GUID may have several)."""

    id: int
    guid: str
    status_code: int
    event: str = "issues"
    action: str | None = "labeled"
    delivered_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    redelivery: bool = False
    installation_id: int | None = None
    repository_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": payloads.iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": 0.12,
            "status": "OK" if 200 <= self.status_code < 300 else "Invalid HTTP Response: 502",
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


def _deliveries(request: Request) -> list[HookDelivery]:
    state = state_of(request)
    verify_app_jwt(state, request.headers.get("authorization"))
    return state.hook_deliveries


async def list_deliveries(request: Request) -> Response:
    """GET /app/hook/deliveries: newest first, `per_page` at a time, the next page behind a cursor."""
    deliveries = sorted(_deliveries(request), key=lambda d: d.delivered_at, reverse=True)
    per_page = min(int(request.query_params.get("per_page", "30")), 100)
    start = int(request.query_params.get("cursor", "v1_0").removeprefix("v1_") or 0)
    page = deliveries[start : start + per_page]
    headers = {}
    if start + per_page < len(deliveries):
        query = urlencode({"per_page": per_page, "cursor": f"v1_{start + per_page}"})
        headers["Link"] = f'<{request.url.replace(query=query)}>; rel="next"'
    return JSONResponse([delivery.as_json() for delivery in page], headers=headers)


async def redeliver(request: Request) -> Response:
    """POST /app/hook/deliveries/{id}/attempts: GitHub queues a new attempt and answers 202."""
    delivery_id = int(request.path_params["delivery_id"])
    deliveries = _deliveries(request)
    if not any(delivery.id == delivery_id for delivery in deliveries):
        raise ApiError(404, "Not Found")
    state_of(request).redelivery_requests.append(delivery_id)
    return JSONResponse({}, status_code=202)


ROUTES = [
    Route("/app/hook/deliveries", list_deliveries, methods=["GET"]),
    Route("/app/hook/deliveries/{delivery_id:int}/attempts", redeliver, methods=["POST"]),
]
