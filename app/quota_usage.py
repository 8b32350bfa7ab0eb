"""A run's share of the quotas: its token budgets before it starts, its spend recorded after."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.config import Settings
from app.metrics import Metrics, record_run_usage
from app.quota import (
    Usage,
    cost_of_run,
    day_of,
    day_token_budget,
    less_job_spend,
    limits_from,
    run_token_budget,
)
from app.quota_prices import family_of, run_price
from app.store.model import DailyUsage, Store
from sandbox.relay_budget import PoolShare
from sandbox.relay_traffic import model_sent_for
from sandbox.usage import JobUsage


@dataclass(frozen=True)
class RunBudget:
    """What the relay lets one run spend: its own tokens, and the day it shares with the
    installation's other runs (None when there is no daily limit)."""

    tokens: int
    pool: PoolShare | None


async def usage_today(store: Store, installation_id: int | None, now: datetime) -> DailyUsage:
    """The installation's spend so far today (zero when it has none)."""
    day = day_of(now)
    for row in await store.usage_on(day):
        if row.installation_id == (installation_id or 0):
            return row
    return DailyUsage(installation_id or 0, day, 0, 0.0, 0)


def pool_key(installation_id: int | None) -> str:
    """Runs of one installation share its day, in this process at least."""
    return f"installation-{installation_id or 0}"


async def budget_for_run(
    store: Store,
    settings: Settings,
    installation_id: int | None,
    model: str,
    job_record: Mapping[str, Any] | None = None,
) -> RunBudget:
    """The run's budgets, from the installation's recorded spend (which runs still open are not
    in yet: the relay's pool accounts for those) and from what the job's earlier runs spent (its
    usage record). The run's own is never below 1, or the runner would use its default."""
    spent = await usage_today(store, installation_id, datetime.now(UTC))
    limits = less_job_spend(limits_from(settings, installation_id), job_record or {})
    usage = Usage(tokens_today=spent.tokens, cost_today_usd=spent.cost_usd)
    price = run_price(model_sent_for(model), settings.relay_models, settings.model_prices)
    day = day_token_budget(limits, usage, price)
    pool = PoolShare(pool_key(installation_id), day) if day is not None else None
    return RunBudget(max(1, run_token_budget(limits, usage, price)), pool)


async def record_run(
    store: Store,
    metrics: Metrics | None,
    settings: Settings,
    installation_id: int | None,
    model: str,
    usage: JobUsage,
) -> float:
    """Charge a finished run to its installation's day and the metrics; returns its cost, the
    relay's counts at the price table's price."""
    tokens = {f.name: getattr(usage, f.name) for f in dataclasses.fields(usage)}
    cost = cost_of_run(usage, model, settings.model_prices, settings.relay_models)
    day = day_of(datetime.now(UTC))
    await store.add_usage(installation_id or 0, day, usage.budgeted, cost)
    if metrics is not None:
        family = family_of(model_sent_for(model), settings.model_prices)
        record_run_usage(metrics, installation_id, family, tokens, cost)
    return cost
