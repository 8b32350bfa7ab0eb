"""What a run cost is the relay's tokens at the price table's price, wherever it is shown or
charged, whatever figure the CLI reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.metrics import create_metrics
from app.quota import day_of
from app.quota_prices import DEFAULT_PRICES, Price
from app.sandbox_service import ServiceSandbox
from app.store.sqlite import SQLiteStore
from handlers.common.run_stats import run_stats, usage_record
from handlers.review.run import combined_stats
from sandbox.container import RunSpec
from sandbox.relay import ModelRelay
from sandbox.usage import TOKEN_FIELDS
from sandbox.workspace import copy_repository
from tests.fakes.model.fixtures import FakeModel
from tests.fakes.model.scenario import Scenario
from tests.fixtures.sandbox import make_repository

pytestmark = pytest.mark.docker

# An operator's own prices for Sonnet, unlike the list prices the CLI computes its figure with.
OWN_SONNET = Price(input=1.0, output=2.0, cache_write=1.0, cache_read=0.5)


async def test_the_ledger_and_every_summary_charge_tokens_at_the_price_table(
    fake_model: FakeModel,
    docker_client: Any,
    sandbox_relay: ModelRelay,
    sandbox_settings: Settings,
    short_dir: Path,
    tmp_path: Path,
) -> None:
    """The quota ledger, the metrics, the job record and the PR and review lines all show the
    relay's tokens x the operator's price, not the CLI's own `total_cost_usd`."""
    settings = replace(sandbox_settings, model_prices={**DEFAULT_PRICES, "sonnet": OWN_SONNET})
    fake_model.set_scenario(Scenario([Scenario.run("true"), Scenario.say("Done.")]))
    store = SQLiteStore(tmp_path / "store.db")
    metrics = create_metrics()
    sandbox = ServiceSandbox(settings, docker_client, sandbox_relay, store, metrics)
    workspace = copy_repository(make_repository(short_dir / "source"), short_dir / "copy")
    try:
        result = await sandbox.run(
            RunSpec(
                job_id="cost-1", workspace=workspace.path, prompt="Fix it.", model=settings.model
            )
        )
        [day] = await store.usage_on(day_of(datetime.now(UTC)))
    finally:
        await store.close()

    tokens = {name: getattr(result.usage, name) for name in TOKEN_FIELDS}
    expected = OWN_SONNET.cost(tokens)
    assert result.usage.requests == 2 and expected > 0
    assert result.total_cost_usd > 0 and result.total_cost_usd != pytest.approx(expected)
    assert day.cost_usd == pytest.approx(expected)
    charged = metrics.registry.get_sample_value(
        "fixwright_model_cost_usd_total", {"installation": "none"}
    )
    assert charged == pytest.approx(expected)
    stats = run_stats(result, settings.model, 1.0, settings)
    assert stats.cost_usd == pytest.approx(expected)
    assert usage_record(stats)["cost_usd"] == pytest.approx(expected)
    review = combined_stats([result, result], [settings.model], settings, 1.0)
    assert review.cost_usd == pytest.approx(2 * expected)
