"""The fake's check run endpoints."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import gitrepo, payloads_pulls
from tests.fakes.github.api_pulls import invalid
from tests.fakes.github.auth import ApiError, not_found
from tests.fakes.github.records import CheckRun, now
from tests.fakes.github.respond import (
    answer,
    body_of,
    number,
    repo_name,
    require,
    required_field,
    state_of,
)

CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


def _apply_check_fields(run: CheckRun, body: dict[str, Any]) -> None:
    """Copy what the caller set; a conclusion completes the run, as on GitHub."""
    if body.get("status") not in (None, *CHECK_STATUSES):
        raise invalid("CheckRun", "status")
    if body.get("conclusion") not in (None, *CHECK_CONCLUSIONS):
        raise invalid("CheckRun", "conclusion")
    for name in ("name", "details_url", "external_id", "status", "conclusion", "output"):
        if name in body:
            setattr(run, name, body[name])
    run.started_at = _timestamp(body.get("started_at")) or run.started_at
    if run.conclusion is not None:
        run.status = "completed"
    if run.status == "completed":
        if run.conclusion is None:
            raise invalid("CheckRun", "conclusion", "missing_field")
        run.completed_at = _timestamp(body.get("completed_at")) or run.completed_at or now()


async def create_check_run(request: Request) -> Response:
    require(request, "checks", "write")
    state = state_of(request)
    body = await body_of(request)
    run = CheckRun(
        id=state.next_id(),
        repository=repo_name(request),
        name=required_field(body, "name", "CheckRun"),
        head_sha=required_field(body, "head_sha", "CheckRun"),
    )
    path = state.repositories[run.repository].path
    if await asyncio.to_thread(gitrepo.rev_parse, path, run.head_sha) is None:
        raise invalid("CheckRun", "head_sha")
    _apply_check_fields(run, body)
    state.check_runs[run.id] = run
    return answer(payloads_pulls.check_run(state, run), status=201)


async def update_check_run(request: Request) -> Response:
    require(request, "checks", "write")
    state = state_of(request)
    run = state.check_runs.get(number(request, "check_run_id"))
    if run is None or run.repository != repo_name(request):
        raise not_found()
    _apply_check_fields(run, await body_of(request))
    return answer(payloads_pulls.check_run(state, run))


async def list_check_runs_for_ref(request: Request) -> Response:
    """`GET /repos/{o}/{r}/commits/{ref}/check-runs`: `check_name`, `status`, `filter`, pages."""
    require(request, "checks", "read")
    state = state_of(request)
    name = repo_name(request)
    path = state.repositories[name].path
    sha = await asyncio.to_thread(gitrepo.rev_parse, path, request.path_params["ref"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {request.path_params['ref']}")
    query = request.query_params
    if query.get("filter", "latest") not in ("latest", "all"):
        raise invalid("CheckRun", "filter")
    found = [
        run
        for run in state.check_runs.values()
        if run.repository == name
        and run.head_sha == sha
        and query.get("check_name", run.name) == run.name
        and query.get("status", run.status) == run.status
    ]
    if query.get("filter", "latest") == "latest":
        newest = {run.name: run for run in sorted(found, key=lambda run: run.id)}
        found = list(newest.values())
    found.sort(key=lambda run: run.id, reverse=True)
    per_page = min(int(query.get("per_page", 30)), 100)
    page = max(int(query.get("page", 1)), 1)
    chunk = found[(page - 1) * per_page : page * per_page]
    response = answer(
        {
            "total_count": len(found),
            "check_runs": [payloads_pulls.check_run(state, run) for run in chunk],
        }
    )
    if page * per_page < len(found):
        following = request.url.include_query_params(page=page + 1, per_page=per_page)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


_CHECK = "/repos/{owner}/{repo}/check-runs"

ROUTES = [
    Route(_CHECK, create_check_run, methods=["POST"]),
    Route(f"{_CHECK}/{{check_run_id:int}}", update_check_run, methods=["PATCH"]),
    Route(
        "/repos/{owner}/{repo}/commits/{ref:path}/check-runs",
        list_check_runs_for_ref,
        methods=["GET"],
    ),
]
