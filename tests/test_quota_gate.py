"""Quotas before a job starts: a job over a limit does not start, and the thread hears why once.

The refusals run in process, on the scripted sandbox; `/quota` is read from a running service.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from app.config import load_settings
from app.quota import day_of
from app.store import Delivery, JobState, NewJob
from app.store.sqlite import SQLiteStore
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY
from tests.fixtures.inprocess import EngineFactory, finished
from tests.fixtures.service import ServiceProcess
from tests.test_config import minimal

OTHER_ISSUE = 2


def seed(path: Path, work) -> None:
    """Prepare the service's store before it starts (what earlier jobs left behind)."""

    async def run() -> None:
        store = SQLiteStore(path)
        try:
            await work(store)
        finally:
            await store.close()

    asyncio.run(run())


async def earlier_job(store: SQLiteStore, *, finish: bool) -> None:
    """A fix job by the maintainer on another issue, leased now by another node, which gave it
    one of the installation's places; finished or still running."""
    await store.record_delivery(
        Delivery(id="earlier-delivery", event="issues", installation_id=INSTALLATION_ID),
        [
            NewJob(
                kind="fix",
                repository=REPOSITORY,
                target=f"{REPOSITORY}#{OTHER_ISSUE}",
                installation_id=INSTALLATION_ID,
                requested_by=MAINTAINER,
                payload={},
                number=OTHER_ISSUE,
            )
        ],
    )
    job = await store.lease("another-node", lease_seconds=3600)
    assert job is not None
    assert await store.claim_quota_slot(job.id, INSTALLATION_ID, "another-node", 1, 3600) is None
    if finish:
        await store.finish(job.id, "another-node", JobState.SUCCEEDED, "pull request #9")


CASES = {
    "tokens_per_day": (
        {"FIXWRIGHT_QUOTA_TOKENS_PER_DAY": "1000"},
        lambda store: store.add_usage(INSTALLATION_ID, day_of(datetime.now(UTC)), 1000, 0.1),
        "1,000 of 1,000 tokens per day are used",
        "00:00 UTC",
    ),
    "cost_per_day_usd": (
        {"FIXWRIGHT_QUOTA_COST_PER_DAY_USD": "5"},
        lambda store: store.add_usage(INSTALLATION_ID, day_of(datetime.now(UTC)), 10, 5.25),
        "$5.25 of $5.00 per day is spent",
        "00:00 UTC",
    ),
    "concurrent_jobs": (
        {"FIXWRIGHT_QUOTA_CONCURRENT_JOBS": "1"},
        lambda store: earlier_job(store, finish=False),
        "1 of 1 concurrent jobs are running",
        "when a running job ends",
    ),
    "jobs_per_user_per_hour": (
        {"FIXWRIGHT_QUOTA_JOBS_PER_USER_PER_HOUR": "1"},
        lambda store: earlier_job(store, finish=True),
        "1 of 1 jobs per user in the last hour are used",
        " UTC",
    ),
}


@pytest.mark.parametrize("limit", list(CASES))
async def test_a_job_over_a_limit_is_refused_with_one_comment(
    limit: str, make_engine: EngineFactory
) -> None:
    """The job ends refused, the issue gets one comment naming limit, usage and reset, no run starts."""
    env, prepare, usage_text, reset_text = CASES[limit]
    engine = await make_engine(**settings_of(env))
    await prepare(engine.store)
    job = finished(
        await engine.run_delivery("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1)),
        JobState.CANCELLED,
    )

    assert job.summary.startswith(f"refused: quota {limit} reached")
    [comment] = engine.github.state.issue_comments(REPOSITORY, 1)
    assert f"`{limit}`" in comment.body
    assert usage_text in comment.body and reset_text in comment.body
    assert engine.sandbox.specs == []
    metrics = generate_latest(engine.metrics.registry).decode()
    assert f'fixwright_quota_refusals_total{{limit="{limit}"}} 1.0' in metrics
    assert 'fixwright_jobs_finished_total{kind="fix",state="cancelled"} 1.0' in metrics


def settings_of(env: dict[str, str]) -> dict[str, object]:
    """The settings a case's variables stand for, read as the service reads them."""
    settings = load_settings(minimal(**env), dotenv=None)
    return {
        field.name: getattr(settings, field.name)
        for field in fields(settings)
        if field.name.startswith("quota_")
    }


def test_quota_reports_usage_and_refusal_per_installation(service_process: ServiceProcess) -> None:
    """GET /quota shows today's tokens and cost used, max and left, and why no job may start."""
    seed(
        service_process.store_path,
        lambda store: store.add_usage(INSTALLATION_ID, day_of(datetime.now(UTC)), 1500, 0.75),
    )
    service_process.env.update(
        FIXWRIGHT_QUOTA_TOKENS_PER_DAY="1000", FIXWRIGHT_QUOTA_COST_PER_DAY_USD="2"
    )
    service = service_process.start()
    body = httpx.get(service.url + "/quota").json()
    [entry] = body["installations"]
    assert entry["installation_id"] == INSTALLATION_ID
    assert (entry["tokens_used"], entry["tokens_max"], entry["tokens_remaining"]) == (1500, 1000, 0)
    assert (entry["cost_used_usd"], entry["cost_max_usd"], entry["cost_remaining_usd"]) == (
        0.75,
        2.0,
        1.25,
    )
    assert entry["allowed"] is False
    assert entry["reason"].startswith("tokens_per_day")
    assert entry["resets_at"] == body["resets_at"]
    other = httpx.get(service.url + "/quota", params={"installation": "77"}).json()
    assert other["installations"][0]["allowed"] is True
    assert other["installations"][0]["tokens_used"] == 0
