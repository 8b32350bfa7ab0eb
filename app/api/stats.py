"""`GET /v1/stats`: what became of the pull requests fixwright opened, per repository, read with
a key that has `stats:read` (the figures of `fixwright stats`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.auth import require_key
from app.api.context import api_state
from app.api.errors import ApiError, filter_problems
from app.api.schemas import json_response, model_schemas, operation, query_parameter, ref
from app.audit_query import REPOSITORY, parse_since
from app.outcome_stats import DEFAULT_SINCE, stats_document

STATS_PATH = "/v1/stats"
SCOPE = "stats:read"
MAX_SINCE = 40
FILTERS = ("repository", "since")


class RepositoryStats(BaseModel):
    """One repository's pull requests opened in the period, and what became of them."""

    repository: str
    opened: int
    merged: int
    closed: int = Field(description="closed without being merged")
    open: int
    merge_rate: float | None = Field(description="merged / (merged + closed); null before any")
    median_seconds_to_merge: float | None
    followup_rounds: int = Field(description="rounds asked on the pull requests after they opened")
    reopened: int
    approvals: int
    changes_requested: int
    cost_usd: float = Field(description="what every job behind these pull requests cost")
    cost_per_merged_usd: float | None = Field(description="cost_usd / merged; null before any")
    findings_posted: int = Field(description="findings fixwright's reviews posted in the period")
    findings_addressed: int = Field(description="of those, the ones a later commit addressed")


class Stats(BaseModel):
    """The period's start, a row per repository, and the totals."""

    since: str
    repositories: list[RepositoryStats]
    totals: RepositoryStats


def query_from(params: Any, now: float) -> tuple[str, float]:
    """(repository, since) from the URL's parameters; 400 naming every problem."""
    problems = filter_problems(params, FILTERS)
    repository = params.get("repository", "")
    since = 0.0
    try:
        since = parse_since(params.get("since", DEFAULT_SINCE)[:MAX_SINCE], now)
    except (ValueError, OverflowError) as error:
        problems.append({"field": "since", "problem": str(error)})
    if problems:
        raise ApiError(400, "invalid_query", "the query has problems: see details", problems)
    return repository, since


async def read_stats(request: Request) -> Response:
    await require_key(request, SCOPE)
    state = api_state(request)
    repository, since = query_from(request.query_params, state.clock())
    outcomes = await state.store.pull_request_outcomes(since, repository)
    findings = await state.store.review_finding_counts(since, repository)
    return JSONResponse(stats_document(outcomes, since, findings))


ROUTES: list[BaseRoute] = [Route(STATS_PATH, read_stats, methods=["GET"])]
SCHEMAS = model_schemas(Stats)
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    STATS_PATH: {
        "get": operation(
            "Read what became of fixwright's pull requests",
            SCOPE,
            operation_id="readStats",
            description="Per repository, the pull requests fixwright opened in the period: how "
            "many were merged, closed unmerged or are still open, the median time to merge, the "
            "follow-up rounds, the cost per merged pull request, and the findings fixwright's "
            "reviews posted and how many a later commit addressed. Pull requests opened by "
            "anyone else are never counted.",
            parameters=[
                query_parameter(
                    "repository",
                    "only this repository",
                    {"type": "string", "pattern": f"^{REPOSITORY.pattern}$"},
                ),
                query_parameter(
                    "since",
                    f"pull requests opened since an age (30m, 12h, 7d, 2w; default "
                    f"{DEFAULT_SINCE}), a UTC date (2026-12-01) or an ISO time",
                    {
                        "anyOf": [
                            {"type": "string", "pattern": "^[0-9]{1,5}[mhdw]$"},
                            {"type": "string", "format": "date"},
                            {"type": "string", "format": "date-time"},
                        ]
                    },
                ),
            ],
            responses={"200": json_response("The figures", ref("Stats"))},
        )
    }
}
