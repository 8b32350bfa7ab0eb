"""`GET /v1/audit`: the audit trail, read with a key that has `audit:read`, filtered as
`fixwright audit` filters it (repository, actor, since) and capped by `limit`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.auth import require_key
from app.api.context import api_state
from app.api.errors import ApiError, filter_problems
from app.api.schemas import json_response, model_schemas, operation, query_parameter, ref
from app.audit_query import REPOSITORY, entry_record, parse_since
from app.store.model import AuditQuery

AUDIT_PATH = "/v1/audit"
SCOPE = "audit:read"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ACTOR = 100
MAX_SINCE = 40
FILTERS = ("repository", "actor", "since", "limit")


class AuditEntry(BaseModel):
    """One decision of the service."""

    at: datetime = Field(description="when it was recorded (UTC)")
    action: str = Field(description="what was decided: trigger.accepted, push, ...")
    actor: str = Field(description="whose action it concerns, or `fixwright`")
    installation_id: int | None
    repository: str
    subject: str = Field(description="what it is about, usually a job's id")
    detail: str = Field(description="why, in one line")


class AuditEntries(BaseModel):
    """The newest entries that match, oldest first."""

    entries: list[AuditEntry]


def query_from(params: Any, now: float) -> AuditQuery:
    """The store's query from the URL's parameters; 400 naming every problem."""
    problems = filter_problems(params, FILTERS)
    repository = params.get("repository", "")
    actor = params.get("actor", "")
    if len(actor) > MAX_ACTOR:
        problems.append({"field": "actor", "problem": f"at most {MAX_ACTOR} characters"})
    since = 0.0
    if "since" in params:
        try:
            since = parse_since(params["since"][:MAX_SINCE], now)
        except (ValueError, OverflowError) as error:
            problems.append({"field": "since", "problem": str(error)})
    limit = params.get("limit", str(DEFAULT_LIMIT))
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT):
        problems.append({"field": "limit", "problem": f"a whole number from 1 to {MAX_LIMIT}"})
    if problems:
        raise ApiError(400, "invalid_query", "the query has problems: see details", problems)
    return AuditQuery(since=since, repository=repository, actor=actor, limit=int(limit))


async def read_audit(request: Request) -> Response:
    await require_key(request, SCOPE)
    state = api_state(request)
    query = query_from(request.query_params, state.clock())
    entries = await state.store.audit_entries(query)
    return JSONResponse({"entries": [entry_record(entry) for entry in entries]})


ROUTES: list[BaseRoute] = [Route(AUDIT_PATH, read_audit, methods=["GET"])]
SCHEMAS = model_schemas(AuditEntries)
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    AUDIT_PATH: {
        "get": operation(
            "Read the audit trail",
            SCOPE,
            operation_id="readAudit",
            description="Each decision the service took (triggers, approvals, cancellations, "
            "refusals, pushes, API keys made and revoked): the newest `limit` entries that "
            "match every filter given, oldest first.",
            parameters=[
                query_parameter(
                    "repository",
                    "only this repository",
                    {"type": "string", "pattern": f"^{REPOSITORY.pattern}$"},
                ),
                query_parameter(
                    "actor",
                    "only this GitHub login (or fixwright)",
                    {"type": "string", "maxLength": MAX_ACTOR},
                ),
                query_parameter(
                    "since",
                    "only entries since an age (30m, 12h, 7d, 2w), a UTC date (2026-12-01) or "
                    "an ISO time (2026-12-01T09:30:00Z)",
                    {
                        "anyOf": [
                            {"type": "string", "pattern": "^[0-9]{1,5}[mhdw]$"},
                            {"type": "string", "format": "date"},
                            {"type": "string", "format": "date-time"},
                        ]
                    },
                ),
                query_parameter(
                    "limit",
                    f"at most this many, the newest (default {DEFAULT_LIMIT})",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                ),
            ],
            responses={
                "200": json_response("The matching entries", ref("AuditEntries")),
            },
        )
    }
}
