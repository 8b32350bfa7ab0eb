"""Quotas during a run: the relay stops the model once the installation's day is spent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from app.quota import day_of
from app.store.sqlite import SQLiteStore
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario, Usage
from tests.fixtures.service import ServiceProcess
from tests.test_quota_gate import seed
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

# Each request reserves its max_tokens (32,000) before it is sent; each answer reads 40,000 input
# tokens. The day has room for the first request, whose answer then spends the rest of it.
MAX_TOKENS = 32_000
LONG_RUN = Scenario(
    [Scenario.read("/workspace/hello/greet.py")] * 8 + [Scenario.say("Done.")],
    usage=Usage(input_tokens=40_000),
)
SPENT_BEFORE = 1000
DAILY_TOKENS = SPENT_BEFORE + MAX_TOKENS + 200


def today_usage(service: ServiceProcess, seeded_on: str) -> tuple[int, float]:
    """The installation's spend on the day it was seeded and today (a run may cross midnight)."""

    async def read() -> tuple[int, float]:
        store = SQLiteStore(service.store_path)
        try:
            days = sorted({seeded_on, day_of(datetime.now(UTC))})
            rows = [row for day in days for row in await store.usage_on(day)]
            assert rows, "no usage recorded"
            return sum(row.tokens for row in rows), sum(row.cost_usd for row in rows)
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_run_stops_when_the_days_tokens_are_spent(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """Once the day's tokens are spent the relay refuses the next model call; the run ends budget-exhausted and its spend is recorded."""
    seeded_on = day_of(datetime.now(UTC))
    seed(
        agent_service_process.store_path,
        lambda store: store.add_usage(INSTALLATION_ID, seeded_on, SPENT_BEFORE, 0.0),
    )
    agent_service_process.env["FIXWRIGHT_QUOTA_TOKENS_PER_DAY"] = str(DAILY_TOKENS)
    service = agent_service_process.start()
    fake_model.set_scenario(LONG_RUN)
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    [job] = wait_for(
        lambda: [line for line in service.log_lines() if line["event"] == "job.finished"],
        timeout=120,
    )
    assert job["state"] == "failed"
    assert "model budget" in job["summary"]
    answered = [r for r in fake_model.requests if r.path == "/v1/messages"]
    assert len(answered) < len(LONG_RUN.steps)
    tokens, cost = today_usage(service, seeded_on)
    assert tokens >= DAILY_TOKENS
    assert cost > 0
    comments = "\n".join(c.body for c in fake_github.state.issue_comments(REPOSITORY, 1))
    assert "model budget" in comments
    metrics = httpx.get(service.url + "/metrics/prometheus").text
    assert 'fixwright_relay_refusals_total{reason="budget_spent"}' in metrics
    assert f'fixwright_model_tokens_total{{installation="{INSTALLATION_ID}",kind="input"' in metrics
    [entry] = httpx.get(service.url + "/quota").json()["installations"]
    assert entry["allowed"] is False and entry["tokens_remaining"] == 0
