"""A run's budgets from the store (its own, and the day it shares), and its charge after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import Settings
from app.metrics import create_metrics
from app.quota import day_of, job_budget_spent, limits_from
from app.quota_prices import DEFAULT_PRICES
from app.quota_usage import RunBudget, budget_for_run, record_run
from app.store.sqlite import SQLiteStore
from sandbox.usage import JobUsage

INSTALLATION = 42
SETTINGS = Settings(
    job_token_budget=100_000,
    quota_tokens_per_day=50_000,
    quota_cost_per_day_usd=0,
    quota_cost_per_job_usd=0,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "store.db")
    yield opened
    await opened.close()


async def test_a_run_reserves_what_its_installation_has_left_today(store: SQLiteStore) -> None:
    """The run gets the day's remaining tokens, reserved: a run beside it gets none of them
    until the first settles what it spent, which goes to the day."""
    today = day_of(datetime.now(UTC))
    await store.add_usage(INSTALLATION, today, 20_000, 0.5)
    budget = await budget_for_run(store, SETTINGS, INSTALLATION, "claude-sonnet-4-5")
    assert (budget.tokens, budget.pool) == (30_000, None) and budget.hold
    beside = await budget_for_run(store, SETTINGS, INSTALLATION, "claude-sonnet-4-5")
    assert beside.tokens == 1  # the least a run can be given: the relay refuses its requests
    usage = JobUsage(input_tokens=12_000)
    await record_run(store, None, SETTINGS, INSTALLATION, "claude-sonnet-4-5", usage, budget.hold)
    [day] = await store.usage_on(today)
    assert day.tokens == 32_000
    after = await budget_for_run(store, SETTINGS, INSTALLATION, "claude-sonnet-4-5")
    assert after.tokens == 18_000


async def test_without_a_daily_limit_there_is_no_pool(store: SQLiteStore) -> None:
    settings = Settings(quota_tokens_per_day=0, quota_cost_per_day_usd=0, job_token_budget=9)
    assert await budget_for_run(store, settings, None, "") == RunBudget(9, None, "")


async def test_a_later_run_of_the_job_gets_what_its_earlier_runs_left(store: SQLiteStore) -> None:
    """A repair round's budget is the job's less what the job's record says it used so far."""
    settings = Settings(quota_tokens_per_day=0, quota_cost_per_day_usd=0, job_token_budget=9_000)
    record = {"input_tokens": 5_000, "output_tokens": 1_000, "cache_read_input_tokens": 10_000}
    assert (await budget_for_run(store, settings, None, "", record)).tokens == 2_000
    spent = {"input_tokens": 9_500}
    assert (await budget_for_run(store, settings, None, "", spent)).tokens == 1
    assert job_budget_spent(limits_from(settings, None), spent)
    assert not job_budget_spent(limits_from(settings, None), record)
    dollars = Settings(quota_tokens_per_day=0, quota_cost_per_day_usd=0, quota_cost_per_job_usd=7.5)
    assert (await budget_for_run(store, dollars, None, "", {"cost_usd": 6.0})).tokens == 20_000


async def test_no_model_is_budgeted_at_the_clis_default_models_price(store: SQLiteStore) -> None:
    """With no model set the CLI uses an Opus: dollars become tokens at Opus's price."""
    settings = Settings(
        quota_tokens_per_day=0, quota_cost_per_day_usd=0, quota_cost_per_job_usd=7.5
    )
    assert (await budget_for_run(store, settings, None, "")).tokens == 100_000  # $75 per million
    assert (await budget_for_run(store, settings, None, "claude-sonnet-4-5")).tokens == 500_000


async def test_the_ledger_charges_the_relays_tokens_at_the_price_table(store: SQLiteStore) -> None:
    """A run is charged its counted tokens x its model's price, to its day and the metrics."""
    metrics = create_metrics()
    usage = JobUsage(input_tokens=1_000_000, output_tokens=100_000, requests=4)
    cost = await record_run(store, metrics, Settings(), INSTALLATION, "claude-sonnet-4-5", usage)
    assert cost == pytest.approx(
        DEFAULT_PRICES["sonnet"].cost({"input_tokens": 10**6, "output_tokens": 10**5})
    )
    [day] = await store.usage_on(day_of(datetime.now(UTC)))
    assert (day.tokens, day.cost_usd) == (1_100_000, pytest.approx(4.5))
    charged = metrics.registry.get_sample_value(
        "fixwright_model_cost_usd_total", {"installation": str(INSTALLATION)}
    )
    assert charged == pytest.approx(4.5)
