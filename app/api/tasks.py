"""The task API: create a task (`POST /v1/tasks`), list and read any job as a task, cancel it,
and read its log and its diff.

A task is queued after its body, its repository and the quota have passed, its job and its row
in one transaction; its credentials are held in memory only (app/task_secrets.py).
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from githubkit.exception import GitHubException, RequestFailed
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from app import job_events, task_secrets
from app.api.auth import ApiKey, require_key
from app.api.context import ApiState, api_state
from app.api.errors import ApiError
from app.api.sse import EventStreamResponse
from app.api.sse import job_events as event_stream
from app.api.task_body import TaskBody, body_sha256, field_problems, job_payload
from app.api.task_operations import OPERATIONS, SCHEMAS
from app.api.task_views import accepted, task_view
from app.audit import Action, audit
from app.config import Settings
from app.context import append_event
from app.egress_guard import check_webhook_url
from app.github_app import GitHubApp, GitHubAuthError
from app.github_connect import OUTSIDE_INSTALLATIONS
from app.quota_gate import quota_decision, refusal_summary
from app.store import FINISHED_STATES, Job, JobState, NewJob, Task, TaskQuery
from app.store.tasks import cursor_of
from app.task_endings import task_ended
from app.task_secrets import TaskSecrets

BODY_LIMIT_BYTES = 1024 * 1024
IDEMPOTENCY_SECONDS = 24 * 3600
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
MAX_WAIT_SECONDS = 3600
PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait=(\d{1,5})(?=$|[;,\s])")
PAGE_LIMIT = 100
STATES = [state.value for state in JobState]


def bad_request(field: str, problem: str, message: str = "the request is not valid") -> ApiError:
    return ApiError(400, "invalid_request", message, [{"field": field, "problem": problem}])


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object sent, read up to the limit (413 past it, 400 when it is not JSON)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT_BYTES:
        raise ApiError(413, "body_too_large", f"a task's body is at most {BODY_LIMIT_BYTES} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > BODY_LIMIT_BYTES:
            raise ApiError(
                413, "body_too_large", f"a task's body is at most {BODY_LIMIT_BYTES} bytes"
            )
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return parsed


def idempotency_of(request: Request, key: ApiKey) -> str:
    """The Idempotency-Key header, scoped to the API key that sent it ("" when none)."""
    given = request.headers.get("idempotency-key")
    if given is None:
        return ""
    if not IDEMPOTENCY_KEY.fullmatch(given):
        raise bad_request("Idempotency-Key", "must be 1 to 200 printable characters, no spaces")
    return f"{key.id}:{given}"


def wait_of(request: Request, body: TaskBody) -> float | None:
    """How long to stream the task's events: `Prefer: wait=N` (seconds), `mode: sync` (until it
    ends: math.inf); None answers at once."""
    prefer = PREFER_WAIT.search(request.headers.get("prefer", ""))
    if prefer is not None:  # wait=0 waits for nothing: the 202 at once
        return float(min(int(prefer.group(1)), MAX_WAIT_SECONDS)) or None
    return math.inf if body.mode == "sync" else None


_apps: dict[str, GitHubApp] = {}


def github_app(settings: Settings) -> GitHubApp:
    """One App client per process (its JWT is reused until it expires)."""
    app = _apps.get(settings.app_id)
    if app is None:
        app = _apps[settings.app_id] = GitHubApp(settings)
    return app


async def repository_of(settings: Settings, body: TaskBody) -> tuple[str, int | None]:
    """(the repository's name as jobs show it, its installation); a URL's has none."""
    repository = body.repository
    if repository.url is not None:
        parts = urlsplit(repository.url)
        path = parts.path.strip("/").removesuffix(".git")
        return f"{parts.hostname}/{path}"[:300], None
    full_name = f"{repository.owner or ''}/{repository.name or ''}"
    return full_name, await installation_of(settings, full_name)


async def installation_of(settings: Settings, repository: str) -> int:
    """The App's installation on `owner/name` (400 when it has none, 502 when GitHub fails)."""
    owner, name = repository.split("/")
    client = github_app(settings).app_client()
    try:
        response = await client.rest.apps.async_get_repo_installation(owner, name)
    except RequestFailed as error:
        if error.response.status_code == 404:
            raise bad_request(
                "repository", f"the App is not installed on {repository}", "unknown repository"
            ) from None
        raise github_unavailable(error) from None
    except (GitHubException, GitHubAuthError) as error:
        raise github_unavailable(error) from None
    return response.parsed_data.id


def github_unavailable(error: Exception) -> ApiError:
    return ApiError(
        502,
        "github_unavailable",
        f"GitHub could not be asked for the repository ({type(error).__name__})",
    )


def quota_record(job: NewJob, now: float) -> Job:
    """The job as the quota gate reads one, before it exists."""
    return Job(
        id="",
        kind=job.kind,
        repository=job.repository,
        target=job.target,
        number=None,
        installation_id=job.installation_id,
        requested_by=job.requested_by,
        delivery_id="",
        payload={},
        state=JobState.QUEUED,
        attempts=0,
        max_attempts=1,
        lease_owner=None,
        lease_expires_at=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        summary="",
    )


async def refuse_over_quota(state: ApiState, job: NewJob) -> None:
    """429 `quota_exceeded` with the reason when the installation's (or the key's) quota is
    reached: the task is not queued."""
    decision = await quota_decision(
        state.store, state.settings, quota_record(job, state.clock()), state.registry.metered()
    )
    if decision.allowed:
        return
    state.metrics.quota_refusals.labels(limit=decision.limit_name).inc()
    await audit(
        state.store,
        Action.QUOTA_REFUSED,
        actor=job.requested_by,
        repository=job.repository,
        installation_id=job.installation_id,
        detail=f"task: {refusal_summary(decision)}",
    )
    headers = {}
    if decision.resets_at is not None:
        seconds = max(1, math.ceil(decision.resets_at.timestamp() - state.clock()))
        headers["Retry-After"] = str(seconds)
    raise ApiError(
        429, "quota_exceeded", f"the quota is reached: {decision.reason}", headers=headers
    )


def task_row(body: TaskBody, raw: dict[str, Any], idempotency_key: str, held: TaskSecrets) -> Task:
    return Task(
        job_id="",
        created_at=0.0,
        external_id=body.external_id or "",
        idempotency_key=idempotency_key,
        body_sha256=body_sha256(raw) if idempotency_key else "",
        webhook_url=body.webhook.url if body.webhook else "",
        webhook_secret=body.webhook.secret.get_secret_value() if body.webhook else "",
        options=job_payload(body),
        has_credentials=bool(held.values()),
    )


async def create_task(request: Request) -> Response:
    """Validate, check the repository and the quota, then queue the job (or answer the one the
    same idempotent request made); 202, 200 for a repeat, or the task's events as they happen."""
    key = await require_key(request, "tasks:write")
    state = api_state(request)
    raw = await json_body(request)
    try:
        body = TaskBody.model_validate(raw)
    except ValidationError as error:
        raise ApiError(
            400, "invalid_request", "the task is not valid", field_problems(error)
        ) from None
    settings = state.settings
    if body.output.branch and not body.output.branch.startswith(settings.branch_prefix):
        raise bad_request("output.branch", f"must start with {settings.branch_prefix}")
    if body.webhook is not None:
        problem = check_webhook_url(body.webhook.url, settings)
        if problem is not None:
            raise bad_request("webhook.url", problem)
    idempotency_key = idempotency_of(request, key)
    since = state.clock() - IDEMPOTENCY_SECONDS
    if idempotency_key:  # a repeat queues nothing, so no quota or GitHub is asked
        earlier = await state.store.task_by_idempotency_key(idempotency_key, since)
        if earlier is not None:
            return await repeated(state, earlier, body_sha256(raw))
    held = TaskSecrets(
        model_key=body.claude.api_key.get_secret_value() if body.claude.api_key else "",
        git_token=body.repository.token.get_secret_value() if body.repository.token else "",
    )
    kind = state.registry.api_task
    if kind is None:
        raise ApiError(503, "unavailable", "this service runs no tasks")
    repository, installation_id = await repository_of(settings, body)
    job = NewJob(
        kind=kind.name,
        repository=repository,
        target=f"{repository}!task-{uuid.uuid4().hex[:16]}",  # its own: it waits for no other
        installation_id=installation_id,
        requested_by=f"api:{key.name}",
        payload={
            "task": job_payload(body),
            **({OUTSIDE_INSTALLATIONS: True} if body.repository.url else {}),
        },
    )
    await refuse_over_quota(state, job)
    created = await state.store.create_task(job, task_row(body, raw, idempotency_key, held), since)
    if not created.created:  # the same request, sent twice at once
        earlier = await state.store.task(created.job_id)
        assert earlier is not None
        return await repeated(state, earlier, body_sha256(raw))
    # Held before the worker can see the job: the pool is woken only after this.
    task_secrets.hold(created.job_id, held)
    stored = await state.store.get_job(created.job_id)
    assert stored is not None
    await audit(
        state.store,
        Action.TASK_CREATED,
        stored,
        detail=f"task created with API key {key.id} ({key.name})",
    )
    state.pool.wake()
    wait = wait_of(request, body)
    if wait is not None:
        deadline = None if math.isinf(wait) else time.monotonic() + wait
        return EventStreamResponse(
            event_stream(state.store, state.hub, stored.id, deadline=deadline)
        )
    return JSONResponse(accepted(settings, stored).model_dump(), status_code=202)


async def repeated(state: ApiState, earlier: Task, body_hash: str) -> Response:
    """A request with an idempotency key already used: the same task (200), or 409 when the
    body differs."""
    if earlier.body_sha256 != body_hash:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was used in the last 24 hours with another body",
        )
    job = await state.store.get_job(earlier.job_id)
    if job is None:
        raise ApiError(404, "not_found", "the task this Idempotency-Key made is gone")
    return JSONResponse(accepted(state.settings, job).model_dump(), status_code=200)


async def job_of(state: ApiState, request: Request) -> Job:
    job_id = str(request.path_params["id"])
    job = await state.store.get_job(job_id) if len(job_id) <= 100 else None
    if job is None:
        raise ApiError(404, "not_found", "no task or job has this id")
    return job


async def list_tasks(request: Request) -> Response:
    """Jobs of any kind, newest first, filtered by status, repository and external id."""
    await require_key(request, "tasks:read")
    state = api_state(request)
    params = request.query_params
    status = params.get("status", "")
    if status and status not in STATES:
        raise bad_request("status", f"must be one of {', '.join(STATES)}")
    limit_text = params.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_LIMIT:
        raise bad_request("limit", f"must be a whole number from 1 to {PAGE_LIMIT}")
    limit = int(limit_text)
    query = TaskQuery(
        state=status,
        repository=params.get("repository", "")[:300],
        external_id=params.get("external_id", "")[:200],
        cursor=params.get("cursor", "")[:500],
        limit=limit + 1,
    )
    jobs = await state.store.list_tasks(query)
    page = jobs[:limit]
    tasks = [task_view(state.settings, job, await state.store.task(job.id)) for job in page]
    next_cursor = cursor_after(page[-1]) if len(jobs) > limit else None
    body = {"tasks": [view.model_dump() for view in tasks], "next": next_cursor}
    return JSONResponse(body)


def cursor_after(job: Job) -> str:
    return cursor_of(job.created_at, job.id)


async def get_task(request: Request) -> Response:
    await require_key(request, "tasks:read")
    state = api_state(request)
    job = await job_of(state, request)
    view = task_view(state.settings, job, await state.store.task(job.id))
    return JSONResponse(view.model_dump())


async def cancel_task(request: Request) -> Response:
    """Cancel a queued or running job (its worker stops it at its next heartbeat, as `/cancel`
    does); 409 when it has already ended."""
    key = await require_key(request, "tasks:write")
    state = api_state(request)
    job = await job_of(state, request)
    if job.state in FINISHED_STATES:
        raise ApiError(409, "already_finished", f"the task has already ended ({job.state.value})")
    if not await state.store.cancel(job.id, f"cancelled through the API by {key.name}"):
        raise ApiError(409, "already_finished", "the task ended meanwhile")
    await audit(
        state.store,
        Action.JOB_CANCELLED,
        job,
        actor=f"api:{key.name}",
        detail=f"{job.kind} job cancelled through the API with key {key.id}",
    )
    if job.state is not JobState.RUNNING:  # no worker will end it: it ends here
        cancelled = await state.store.get_job(job.id) or job
        for event in (
            job_events.status(cancelled.state.value, cancelled.summary),
            job_events.ending(cancelled.state.value, cancelled.summary),
        ):
            await append_event(state.store, state.settings, job.id, event)
        await task_ended(state, cancelled)
    current = await state.store.get_job(job.id) or job
    return JSONResponse(accepted(state.settings, current).model_dump(), status_code=202)


def log_line(at: float, kind: str, data: Any) -> str:
    """One event as one line: its time, its kind, its data as JSON (no raw control character)."""
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    safe = "".join(c if c.isprintable() else " " for c in text)
    return f"{stamp.replace('+00:00', 'Z')} {kind} {safe}"


async def task_logs(request: Request) -> Response:
    await require_key(request, "tasks:read")
    state = api_state(request)
    job = await job_of(state, request)
    events = await state.store.events(job.id)
    lines = [log_line(event.at, event.kind, dict(event.data)) for event in events]
    return PlainTextResponse("".join(line + "\n" for line in lines))


async def task_diff(request: Request) -> Response:
    await require_key(request, "tasks:read")
    state = api_state(request)
    job = await job_of(state, request)
    task = await state.store.task(job.id)
    if task is None:
        raise ApiError(404, "not_found", "only tasks keep a diff: this job came from GitHub")
    return Response(task.diff, media_type="text/x-diff")


ROUTES: list[BaseRoute] = [
    Route("/v1/tasks", create_task, methods=["POST"]),
    Route("/v1/tasks", list_tasks, methods=["GET"]),
    Route("/v1/tasks/{id}", get_task, methods=["GET"]),
    Route("/v1/tasks/{id}/cancel", cancel_task, methods=["POST"]),
    Route("/v1/tasks/{id}/logs", task_logs, methods=["GET"]),
    Route("/v1/tasks/{id}/diff", task_diff, methods=["GET"]),
]

__all__ = ["OPERATIONS", "ROUTES", "SCHEMAS"]
