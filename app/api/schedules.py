"""The schedules API: an operator's recurring tasks on a repository where the App is installed.
`POST /v1/schedules` creates one (every bad field named at once, the cron expression and the
timezone included), `GET` lists them with their next and last runs, `POST .../pause` and
`.../resume` hold and release one, `DELETE` removes it. The scheduler (app/scheduler.py) fires
them."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.auth import ApiKey, require_key
from app.api.context import ApiState, api_state
from app.api.errors import ApiError
from app.api.schemas import (
    error_response,
    json_response,
    model_schemas,
    operation,
    path_parameter,
    query_parameter,
    ref,
)
from app.api.task_body import OWNER, REPOSITORY_NAME, Strict, field_problems
from app.api.tasks import installation_of, json_body
from app.audit import Action, audit
from app.schedule_rules import (
    MAX_CRON_CHARACTERS,
    MAX_PROMPT_CHARACTERS,
    MAX_TIMEZONE_CHARACTERS,
    NAME,
    cron_problem,
    nul_problem,
    output_issue_problem,
    timezone_problem,
)
from app.schedule_views import schedule_document
from app.store.schedules import Schedule

READ, WRITE = "schedules:read", "schedules:write"
REPOSITORY = re.compile(OWNER[:-1] + "/" + REPOSITORY_NAME[1:])


def _cron(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _timezone(value: str) -> str:
    problem = timezone_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _no_nul(value: str) -> str:
    problem = nul_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _repository(value: str) -> str:
    if not REPOSITORY.fullmatch(value):
        raise ValueError("must be owner/name of a GitHub repository")
    return value


class ScheduleBody(BaseModel):
    """`POST /v1/schedules`."""

    model_config = Strict
    repository: Annotated[str, AfterValidator(_repository)]
    name: Annotated[str, StringConstraints(pattern=NAME)]
    cron: Annotated[str, StringConstraints(max_length=MAX_CRON_CHARACTERS), AfterValidator(_cron)]
    timezone: Annotated[
        str, StringConstraints(max_length=MAX_TIMEZONE_CHARACTERS), AfterValidator(_timezone)
    ] = "UTC"
    prompt: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARACTERS),
        AfterValidator(_no_nul),
    ]
    output: Literal["pull_request", "issue_comment", "issue"] = "pull_request"
    issue: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def issue_with_comment(self) -> ScheduleBody:
        problem = output_issue_problem(self.output, self.issue)
        if problem:
            raise ValueError(problem)
        return self


async def create_schedule(request: Request) -> Response:
    key = await require_key(request, WRITE)
    state = api_state(request)
    raw = await json_body(request)
    try:
        body = ScheduleBody.model_validate(raw)
    except ValidationError as error:
        raise ApiError(
            400, "invalid_request", "the schedule is not valid", field_problems(error)
        ) from None
    installation_id = await installation_of(state.settings, body.repository)
    schedule = Schedule(
        id=uuid.uuid4().hex,
        repository=body.repository,
        installation_id=installation_id,
        name=body.name,
        cron=" ".join(body.cron.split()),
        timezone=body.timezone,
        prompt=body.prompt,
        output=body.output,
        issue_number=body.issue,
        source="api",
        created_by=f"api:{key.name}",
    )
    if not await state.store.create_schedule(schedule):
        raise ApiError(
            409, "conflict", f"{body.repository} already has a schedule named {body.name}"
        )
    await _audit(state, key, Action.SCHEDULE_CREATED, schedule)
    return JSONResponse(await _document(state, schedule.id), status_code=201)


async def _audit(state: ApiState, key: ApiKey, action: Action, schedule: Schedule) -> None:
    await audit(
        state.store,
        action,
        actor=f"api:{key.name}",
        repository=schedule.repository,
        installation_id=schedule.installation_id,
        subject=schedule.id,
        detail=f"schedule {schedule.name} ({schedule.cron}, {schedule.timezone})",
    )


async def _document(state: ApiState, schedule_id: str) -> dict[str, object]:
    schedule = await state.store.schedule(schedule_id)
    views = await state.store.schedules(schedule.repository) if schedule else []
    for view in views:
        if view.schedule.id == schedule_id:
            return schedule_document(view, state.clock())
    raise ApiError(404, "not_found", "no schedule has this id")


async def list_schedules(request: Request) -> Response:
    await require_key(request, READ)
    state = api_state(request)
    repository = request.query_params.get("repository", "")[:300]
    now = state.clock()
    views = await state.store.schedules(repository)
    return JSONResponse({"schedules": [schedule_document(view, now) for view in views]})


async def _schedule_of(state: ApiState, request: Request) -> Schedule:
    schedule_id = str(request.path_params["id"])
    schedule = await state.store.schedule(schedule_id) if len(schedule_id) <= 100 else None
    if schedule is None:
        raise ApiError(404, "not_found", "no schedule has this id")
    return schedule


async def get_schedule(request: Request) -> Response:
    await require_key(request, READ)
    state = api_state(request)
    schedule = await _schedule_of(state, request)
    return JSONResponse(await _document(state, schedule.id))


async def _set_paused(request: Request, paused: bool) -> Response:
    key = await require_key(request, WRITE)
    state = api_state(request)
    schedule = await _schedule_of(state, request)
    await state.store.pause_schedule(schedule.id, paused)
    action = Action.SCHEDULE_PAUSED if paused else Action.SCHEDULE_RESUMED
    await _audit(state, key, action, schedule)
    return JSONResponse(await _document(state, schedule.id))


async def pause_schedule(request: Request) -> Response:
    return await _set_paused(request, True)


async def resume_schedule(request: Request) -> Response:
    return await _set_paused(request, False)


async def delete_schedule(request: Request) -> Response:
    key = await require_key(request, WRITE)
    state = api_state(request)
    schedule = await _schedule_of(state, request)
    await state.store.delete_schedule(schedule.id)
    await _audit(state, key, Action.SCHEDULE_DELETED, schedule)
    return Response(status_code=204)


ROUTES: list[BaseRoute] = [
    Route("/v1/schedules", create_schedule, methods=["POST"]),
    Route("/v1/schedules", list_schedules, methods=["GET"]),
    Route("/v1/schedules/{id}", get_schedule, methods=["GET"]),
    Route("/v1/schedules/{id}", delete_schedule, methods=["DELETE"]),
    Route("/v1/schedules/{id}/pause", pause_schedule, methods=["POST"]),
    Route("/v1/schedules/{id}/resume", resume_schedule, methods=["POST"]),
]


class LastRun(BaseModel):
    """A schedule's latest slot: fired (its job and the job's state) or skipped (the reason)."""

    slot_at: str
    outcome: Literal["queued", "skipped"]
    reason: str
    job_id: str | None
    job_state: str | None


class ScheduleView(BaseModel):
    """A schedule, its next run (null while paused) and its last one (null before any)."""

    id: str
    repository: str
    name: str
    cron: str
    timezone: str
    prompt: str
    output: Literal["pull_request", "issue_comment", "issue"]
    issue: int | None
    source: Literal["api", "repository"]
    paused: bool
    created_by: str
    created_at: str | None
    next_run: str | None
    last_run: LastRun | None


class ScheduleList(BaseModel):
    schedules: list[ScheduleView]


SCHEMAS = model_schemas(ScheduleBody, ScheduleView, ScheduleList)
_ID = path_parameter("id", "the schedule's id")
_NOT_FOUND = {"404": error_response("No schedule has this id (`not_found`)")}
_ONE = {"200": json_response("The schedule", ref("ScheduleView")), **_NOT_FOUND}
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/v1/schedules": {
        "post": operation(
            "Create a schedule",
            WRITE,
            operation_id="createSchedule",
            description="A recurring task on a repository where the App is installed; every "
            "field's problem is named at once (the cron expression and the timezone included).",
            request_body={
                "required": True,
                "content": {"application/json": {"schema": ref("ScheduleBody")}},
            },
            responses={
                "201": json_response("The schedule is kept", ref("ScheduleView")),
                "400": error_response("A field is not valid (`invalid_request`), each named"),
                "409": error_response("The repository has a schedule of that name (`conflict`)"),
            },
        ),
        "get": operation(
            "List the schedules",
            READ,
            operation_id="listSchedules",
            parameters=[query_parameter("repository", "only this repository", {"type": "string"})],
            responses={"200": json_response("The schedules", ref("ScheduleList"))},
        ),
    },
    "/v1/schedules/{id}": {
        "get": operation(
            "Read a schedule", READ, operation_id="getSchedule", parameters=[_ID], responses=_ONE
        ),
        "delete": operation(
            "Delete a schedule (its jobs stay)",
            WRITE,
            operation_id="deleteSchedule",
            parameters=[_ID],
            responses={"204": {"description": "Deleted"}, **_NOT_FOUND},
        ),
    },
    "/v1/schedules/{id}/pause": {
        "post": operation(
            "Pause a schedule: its slots pass, recorded as skipped",
            WRITE,
            operation_id="pauseSchedule",
            parameters=[_ID],
            responses=_ONE,
        )
    },
    "/v1/schedules/{id}/resume": {
        "post": operation(
            "Resume a schedule from its next slot",
            WRITE,
            operation_id="resumeSchedule",
            parameters=[_ID],
            responses=_ONE,
        )
    },
}
