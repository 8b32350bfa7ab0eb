"""The job event log as Server-Sent Events: `GET /v1/tasks/{id}/events` (scope `tasks:read`).

Any job is readable here, a webhook's as well as a task's. `Last-Event-ID` (or
`?last_event_id=`, for clients that cannot set headers) resumes after that sequence number.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.api.auth import require_key
from app.api.context import ApiState, api_state
from app.api.errors import ApiError
from app.api.schemas import ANSWER_HEADERS, error_response, operation, path_parameter
from app.api.sse import EventStreamResponse, job_events, resume_point
from app.job_events import TERMINAL_KINDS

SCOPE = "tasks:read"


async def task_events(request: Request) -> Response:
    """The job's events from the resume point on, as they come, until its terminal event."""
    state = api_state(request)
    await require_key(request, SCOPE)
    job_id = request.path_params["id"]
    after = resume_point(
        request.headers.get("last-event-id"), request.query_params.get("last_event_id")
    )
    if after is None:
        raise ApiError(
            400,
            "bad_request",
            "Last-Event-ID must be the id of an event this stream sent (a whole number)",
            [{"field": "Last-Event-ID", "problem": "not a whole number"}],
        )
    return await event_stream(state, job_id, after)


async def event_stream(state: ApiState, job_id: str, after: int) -> Response:
    """The stream of one job, or 404 in the API's error shape when there is no such job."""
    if await state.store.get_job(job_id) is None:
        raise ApiError(404, "not_found", f"there is no task {job_id[:100]!r}")
    return EventStreamResponse(
        job_events(
            state.store,
            state.hub,
            job_id,
            after,
            heartbeat_seconds=state.settings.sse_heartbeat_seconds,
        )
    )


ROUTES: list[BaseRoute] = [Route("/v1/tasks/{id}/events", task_events, methods=["GET"])]

EVENT_STREAM_DESCRIPTION = (
    "Server-Sent Events: each message has `id:` (the event's sequence number), `event:` (its "
    "kind: status, text, tool_call, tool_result, files, verification, usage, or the terminal "
    f"{', '.join(sorted(TERMINAL_KINDS))}) and `data:` (its JSON object on one line). A "
    "`: heartbeat` comment comes after each quiet interval; the stream ends after the terminal "
    "event. Every string in an event was redacted before it was stored."
)
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/v1/tasks/{id}/events": {
        "get": operation(
            "Stream a task's events",
            SCOPE,
            operation_id="streamTaskEvents",
            description="Resume with `Last-Event-ID` (or `?last_event_id=`): no gap, no repeat.",
            parameters=[
                path_parameter("id", "The task's (or any job's) id"),
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "Resume after this event id",
                    "schema": {"type": "string", "pattern": "^[0-9]{0,19}$"},
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "required": False,
                    "description": "The same, for clients that cannot set headers",
                    "schema": {"type": "string", "pattern": "^[0-9]{0,19}$"},
                },
            ],
            responses={
                "200": {
                    "description": EVENT_STREAM_DESCRIPTION,
                    "headers": ANSWER_HEADERS,
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": error_response("Last-Event-ID is not an event id (`bad_request`)"),
                "404": error_response("No task has this id (`not_found`)"),
            },
        )
    }
}
