"""A run's share of the quotas: its token budgets before it starts, its spend recorded after."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app.config import Settings
from app.metrics import Metrics, record_run_usage
from app.quota import (
    Usage,
    cost_of_run,
    day_of,
    less_job_spend,
    limits_from,
    run_token_budget,
)
from app.quota_prices import family_of, run_price
from app.store.budget import DayLimits
from app.store.model import DailyUsage, Store
from sandbox.relay_budget import PoolShare
from sandbox.relay_traffic import model_sent_for
from sandbox.usage import JobUsage

# A quota hold (a job's place among the running ones, a run's reservation) lasts at most this
# long; one that follows a job is given back as soon as the job stops running under its lease.
HOLD_SECONDS = 86_400.0


@dataclass(frozen=True)
class RunBudget:
    """What the relay lets one run spend: its own tokens, already reserved out of its
    installation's day in the shared store (`hold` names the reservation; "" when there is no
    daily limit). `pool` is the relay's in-process sharing, which the store's reservation
    replaces: it stays None here."""

    tokens: int
    pool: PoolShare | None
    hold: str = ""


async def usage_today(store: Store, installation_id: int | None, now: datetime) -> DailyUsage:
    """The installation's spend so far today (zero when it has none)."""
    day = day_of(now)
    for row in await store.usage_on(day):
        if row.installation_id == (installation_id or 0):
            return row
    return DailyUsage(installation_id or 0, day, 0, 0.0, 0)


async def budget_for_run(
    store: Store,
    settings: Settings,
    installation_id: int | None,
    model: str,
    job_record: Mapping[str, Any] | None = None,
    job_id: str = "",
) -> RunBudget:
    """The run's budget: the job's own (less what the job's earlier runs spent, per its usage
    record), reserved out of what its installation's day has left once the recorded spend and
    the reservations of runs in flight on every node are taken off. Never below 1, or the runner
    would use its default."""
    limits = less_job_spend(limits_from(settings, installation_id), job_record or {})
    price = run_price(model_sent_for(model), settings.relay_models, settings.model_prices)
    own = run_token_budget(replace(limits, tokens_per_day=0, cost_per_day_usd=0), Usage(), price)
    if not (limits.tokens_per_day or limits.cost_per_day_usd):
        return RunBudget(max(1, own), None)
    job = await store.get_job(job_id) if job_id else None
    hold = job_id or f"run-{uuid.uuid4().hex}"
    day = DayLimits(limits.tokens_per_day, limits.cost_per_day_usd, price.dearest_per_token())
    reservation = await store.reserve_day_budget(
        hold,
        installation_id or 0,
        (job.lease_owner or "") if job else "",
        day_of(datetime.now(UTC)),
        day,
        own or None,
        HOLD_SECONDS,
    )
    return RunBudget(max(1, reservation.granted), None, hold)


async def record_run(
    store: Store,
    metrics: Metrics | None,
    settings: Settings,
    installation_id: int | None,
    model: str,
    usage: JobUsage,
    hold: str = "",
) -> float:
    """Charge a finished run to its installation's day (settling its reservation, `hold`) and
    the metrics; returns its cost, the relay's counts at the price table's price."""
    tokens = {f.name: getattr(usage, f.name) for f in dataclasses.fields(usage)}
    cost = cost_of_run(usage, model, settings.model_prices, settings.relay_models)
    day = day_of(datetime.now(UTC))
    if hold:
        await store.settle_day_budget(hold, installation_id or 0, day, usage.budgeted, cost)
    else:
        await store.add_usage(installation_id or 0, day, usage.budgeted, cost)
    if metrics is not None:
        family = family_of(model_sent_for(model), settings.model_prices)
        record_run_usage(metrics, installation_id, family, tokens, cost)
    return cost
