"""`GET /v1/tasks/{id}/webhook-deliveries`: a task's outgoing webhook and every attempt to send
it (when, the receiver's status or the error, a short cleaned excerpt of its answer, when the
next try is). Where it went is shown as an origin only, and the task's secret never."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.auth import require_key
from app.api.context import api_state
from app.api.errors import ApiError
from app.api.schemas import (
    error_response,
    json_response,
    model_schemas,
    operation,
    path_parameter,
    ref,
)
from app.store.webhook_deliveries import WebhookAttempt, WebhookDelivery

PATH = "/v1/tasks/{id}/webhook-deliveries"
SCOPE = "tasks:read"
MAX_ID = 100


class WebhookAttemptView(BaseModel):
    """One try at sending the webhook."""

    number: int = Field(description="1 for the first try")
    at: str = Field(description="when it was sent (UTC)")
    duration_ms: int
    status_code: int | None = Field(description="the receiver's status; null when none came")
    error: str = Field(description="why no answer came (refused, timed out, unreachable), or ''")
    response_excerpt: str = Field(
        description="the start of the receiver's answer: one line, control characters removed, "
        "at most 200 characters"
    )
    next_attempt_at: str | None = Field(description="when the next try is; null when none will be")


class WebhookDeliveryView(BaseModel):
    """A task's webhook: the event it tells, where it went, and how far it got."""

    id: str = Field(description="the delivery id, sent as X-Fixwright-Delivery")
    event: Literal["task.completed", "task.failed", "task.cancelled"]
    target: str = Field(description="the webhook URL's scheme, host and port (never its path)")
    state: Literal["pending", "delivered", "failed"]
    created_at: str
    next_attempt_at: str | None
    finished_at: str | None
    outcome: str = Field(description="the last attempt's result, or why it gave up, in words")
    attempts: list[WebhookAttemptView]


class WebhookDeliveries(BaseModel):
    """The task's webhook deliveries, oldest first (none when it has no webhook or has not
    ended)."""

    deliveries: list[WebhookDeliveryView]


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def attempt_view(attempt: WebhookAttempt) -> WebhookAttemptView:
    return WebhookAttemptView(
        number=attempt.number,
        at=iso(attempt.at) or "",
        duration_ms=attempt.duration_ms,
        status_code=attempt.status_code,
        error=attempt.error,
        response_excerpt=attempt.response_excerpt,
        next_attempt_at=iso(attempt.next_attempt_at),
    )


def delivery_view(delivery: WebhookDelivery) -> WebhookDeliveryView:
    return WebhookDeliveryView.model_validate(
        {
            "id": delivery.id,
            "event": delivery.event,
            "target": delivery.target,
            "state": delivery.state,
            "created_at": iso(delivery.created_at) or "",
            "next_attempt_at": iso(delivery.next_attempt_at)
            if delivery.state == "pending"
            else None,
            "finished_at": iso(delivery.finished_at),
            "outcome": delivery.outcome,
            "attempts": [attempt_view(attempt) for attempt in delivery.tries],
        }
    )


async def list_webhook_deliveries(request: Request) -> Response:
    await require_key(request, SCOPE)
    state = api_state(request)
    job_id = str(request.path_params["id"])
    if len(job_id) > MAX_ID or await state.store.get_job(job_id) is None:
        raise ApiError(404, "not_found", "no task or job has this id")
    deliveries = await state.store.webhook_deliveries(job_id)
    answer = WebhookDeliveries(deliveries=[delivery_view(d) for d in deliveries])
    return JSONResponse(answer.model_dump(mode="json"))


ROUTES: list[BaseRoute] = [Route(PATH, list_webhook_deliveries, methods=["GET"])]
SCHEMAS = model_schemas(WebhookDeliveries)
# OpenAPI path → method → operation object (see `app.api.openapi`).
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    PATH: {
        "get": operation(
            "List a task's webhook deliveries",
            SCOPE,
            operation_id="listWebhookDeliveries",
            description="The outgoing webhook queued when the task ended (`task.completed`, "
            "`task.failed` or `task.cancelled`) and each attempt to send it: a 2xx ends it "
            "(`delivered`); a redirect, a 4xx other than 408 and 429, or a refused target ends it "
            "(`failed`); anything else is tried again with exponential backoff for a bounded "
            "time. While a try is under way `next_attempt_at` is when its claim runs out.",
            parameters=[path_parameter("id", "The task's (or any job's) id")],
            responses={
                "200": json_response("The task's deliveries", ref("WebhookDeliveries")),
                "404": error_response("No task or job has this id (`not_found`)"),
            },
        )
    }
}
