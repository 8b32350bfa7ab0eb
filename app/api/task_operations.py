"""The task routes' part of `/openapi.json`: each operation, its parameters and its answers."""

from __future__ import annotations

from typing import Any

from app.api.schemas import (
    ANSWER_HEADERS,
    JsonSchema,
    error_response,
    json_response,
    model_schemas,
    operation,
    path_parameter,
    query_parameter,
    ref,
)
from app.api.task_body import TaskBody
from app.api.task_views import TaskAccepted, TaskList, TaskView

SCHEMAS = model_schemas(TaskBody, TaskAccepted, TaskView, TaskList)
TASK_ID = path_parameter("id", "The task's (or any job's) id")
EVENT_STREAM: JsonSchema = {
    "description": "With `Prefer: wait=N` or `mode: sync`: the task's events as Server-Sent "
    "Events until it ends (or N seconds pass)",
    "headers": ANSWER_HEADERS,
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}
INVALID = error_response("The body (or a parameter) is not valid: every problem in `details`")
NOT_FOUND = error_response("No task or job has this id (`not_found`)")


def text_response(description: str, media_type: str) -> JsonSchema:
    return {
        "description": description,
        "headers": ANSWER_HEADERS,
        "content": {media_type: {"schema": {"type": "string"}}},
    }


OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/v1/tasks": {
        "post": operation(
            "Create a task",
            "tasks:write",
            operation_id="createTask",
            description=(
                "Runs Claude Code on the repository with the prompt. `Idempotency-Key`: the same "
                "key and body within 24 hours answers the same task (200); another body, 409. "
                "Credentials (`claude.api_key`, `repository.token`) are held in memory only."
            ),
            parameters=[
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 200},
                },
                {
                    "name": "Prefer",
                    "in": "header",
                    "required": False,
                    "description": "`wait=N`: stream the task's events for up to N seconds",
                    "schema": {"type": "string", "maxLength": 200},
                },
            ],
            request_body={
                "required": True,
                "content": {"application/json": {"schema": ref("TaskBody")}},
            },
            responses={
                "202": json_response("The task is queued", ref("TaskAccepted")),
                "200": {
                    **json_response(
                        "The task an earlier identical request made; or, with `Prefer: wait=N` "
                        "or `mode: sync`, the new task's events as Server-Sent Events",
                        ref("TaskAccepted"),
                    ),
                    "content": {
                        "application/json": {"schema": ref("TaskAccepted")},
                        **EVENT_STREAM["content"],
                    },
                },
                "400": INVALID,
                "409": error_response("The Idempotency-Key was used with another body"),
                "413": error_response("The body is over 1 MiB"),
                "502": error_response("GitHub could not be asked for the repository"),
            },
        ),
        "get": operation(
            "List tasks",
            "tasks:read",
            operation_id="listTasks",
            description="Jobs of any kind (webhook-triggered too), newest first.",
            parameters=[
                query_parameter("status", "Only jobs in this state", {"type": "string"}),
                query_parameter("repository", "Only jobs on this repository", {"type": "string"}),
                query_parameter(
                    "external_id", "Only the task with this external id", {"type": "string"}
                ),
                query_parameter("cursor", "The `next` of the page before", {"type": "string"}),
                query_parameter("limit", "At most this many (1 to 100)", {"type": "string"}),
            ],
            responses={"200": json_response("A page of tasks", ref("TaskList")), "400": INVALID},
        ),
    },
    "/v1/tasks/{id}": {
        "get": operation(
            "Read a task",
            "tasks:read",
            operation_id="getTask",
            parameters=[TASK_ID],
            responses={"200": json_response("The task", ref("TaskView")), "404": NOT_FOUND},
        )
    },
    "/v1/tasks/{id}/cancel": {
        "post": operation(
            "Cancel a task",
            "tasks:write",
            operation_id="cancelTask",
            parameters=[TASK_ID],
            responses={
                "202": json_response(
                    "The task is cancelled (a running one stops within seconds)",
                    ref("TaskAccepted"),
                ),
                "404": NOT_FOUND,
                "409": error_response("The task has already ended (`already_finished`)"),
            },
        )
    },
    "/v1/tasks/{id}/logs": {
        "get": operation(
            "Read a task's log",
            "tasks:read",
            operation_id="getTaskLogs",
            parameters=[TASK_ID],
            responses={
                "200": text_response("One timestamped line per event", "text/plain"),
                "404": NOT_FOUND,
            },
        )
    },
    "/v1/tasks/{id}/diff": {
        "get": operation(
            "Read a task's diff",
            "tasks:read",
            operation_id="getTaskDiff",
            parameters=[TASK_ID],
            responses={
                "200": text_response("The change as a unified diff (empty: none)", "text/x-diff"),
                "404": NOT_FOUND,
            },
        )
    },
}
