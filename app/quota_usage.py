"""A run's share of the quotas: its token budget before it starts, its spend recorded after."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from app.config import Settings
from app.metrics import Metrics, record_run_usage
from app.quota import Usage, cost_of_run, day_of, limits_from, run_token_budget
from app.quota_prices import family_of, price_for
from app.store.model import DailyUsage, Store
from sandbox.usage import JobUsage


async def usage_today(store: Store, installation_id: int | None, now: datetime) -> DailyUsage:
    """The installation's spend so far today (zero when it has none)."""
    day = day_of(now)
    for row in await store.usage_on(day):
        if row.installation_id == (installation_id or 0):
            return row
    return DailyUsage(installation_id or 0, day, 0, 0.0, 0)


async def budget_for_run(
    store: Store, settings: Settings, installation_id: int | None, model: str
) -> int:
    """The tokens the relay lets this run spend: never below 1, or the runner would use its default."""
    spent = await usage_today(store, installation_id, datetime.now(UTC))
    limits = limits_from(settings, installation_id)
    usage = Usage(tokens_today=spent.tokens, cost_today_usd=spent.cost_usd)
    return max(1, run_token_budget(limits, usage, price_for(model, settings.model_prices)))


async def record_run(
    store: Store,
    metrics: Metrics | None,
    settings: Settings,
    installation_id: int | None,
    model: str,
    usage: JobUsage,
    reported_cost_usd: float,
) -> float:
    """Charge a finished run to its installation's day and the metrics; returns its cost."""
    tokens = {f.name: getattr(usage, f.name) for f in dataclasses.fields(usage)}
    cost = cost_of_run(reported_cost_usd, tokens, model, settings.model_prices)
    day = day_of(datetime.now(UTC))
    await store.add_usage(installation_id or 0, day, usage.budgeted, cost)
    if metrics is not None:
        family = family_of(model, settings.model_prices)
        record_run_usage(metrics, installation_id, family, tokens, cost)
    return cost
