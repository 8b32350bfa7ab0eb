"""Quotas as pure functions: limits and usage in, a decision (allowed, or why not and until when) out.

The gate before a job, the run's token budget and `GET /quota` are thin adapters over these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta

from app.config import Settings
from app.quota_prices import Price, run_price
from sandbox.relay_traffic import model_sent_for
from sandbox.usage import TOKEN_FIELDS, JobUsage

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class QuotaLimits:
    """What one installation may use; 0 means no limit of that kind. The defaults are the
    settings' own (app/config.py), so they are declared once."""

    concurrent_jobs: int = Settings.quota_concurrent_jobs
    jobs_per_user_per_hour: int = Settings.quota_jobs_per_user_per_hour
    tokens_per_day: int = Settings.quota_tokens_per_day
    cost_per_day_usd: float = Settings.quota_cost_per_day_usd
    tokens_per_job: int = Settings.job_token_budget
    cost_per_job_usd: float = Settings.quota_cost_per_job_usd


LIMIT_NAMES = tuple(f.name for f in fields(QuotaLimits))


@dataclass(frozen=True)
class Usage:
    """What an installation has used: today's tokens and cost, and what is running or recent."""

    tokens_today: int = 0
    cost_today_usd: float = 0.0
    active_jobs: int = 0
    user_jobs_last_hour: int = 0
    user_oldest_job_at: datetime | None = None  # the earliest of those jobs, for when one frees up


@dataclass(frozen=True)
class QuotaDecision:
    """Whether a job may start; when not, which limit, how much is used, and when it resets."""

    allowed: bool
    reason: str = ""
    limit_name: str = ""
    limit: float = 0
    used: float = 0
    resets_at: datetime | None = None


ALLOWED = QuotaDecision(allowed=True)


def with_overrides(limits: QuotaLimits, overrides: Mapping[str, float]) -> QuotaLimits:
    """The operator's per-installation limits: they replace the global ones, up or down."""
    return replace(limits, **{k: type(getattr(limits, k))(v) for k, v in overrides.items()})


def lowered_by(limits: QuotaLimits, repository_limits: Mapping[str, float]) -> QuotaLimits:
    """A repository's own limits (`.github/fixwright.yml`) may lower the operator's, never raise them."""
    lowered = {}
    for name, value in repository_limits.items():
        if name not in LIMIT_NAMES or value <= 0:
            continue
        current = getattr(limits, name)
        lowered[name] = type(current)(value if current == 0 else min(current, value))
    return replace(limits, **lowered)


def limits_for(
    defaults: QuotaLimits,
    per_installation: Mapping[int, Mapping[str, float]],
    installation_id: int | None,
) -> QuotaLimits:
    """The limits that apply to one installation."""
    return with_overrides(defaults, per_installation.get(installation_id or 0, {}))


def job_tokens_spent(record: Mapping[str, object]) -> int:
    """The budgeted tokens a job's record says its runs used so far (cache reads a tenth)."""
    counts = [record.get(name, 0) for name in TOKEN_FIELDS]
    spent = JobUsage(*(count if isinstance(count, int) else 0 for count in counts))
    return spent.budgeted


def less_job_spend(limits: QuotaLimits, record: Mapping[str, object]) -> QuotaLimits:
    """The per-job limits less what the job's earlier runs spent, as its record holds it: a
    fix's repair rounds share the job's budget. A spent limit leaves the least there is (a token,
    a millionth of a dollar), never 0, which would mean no limit."""
    tokens = job_tokens_spent(record)
    cost = record.get("cost_usd", 0.0)
    spent_usd = float(cost) if isinstance(cost, int | float) else 0.0
    if limits.tokens_per_job and tokens:
        limits = replace(limits, tokens_per_job=max(1, limits.tokens_per_job - tokens))
    if limits.cost_per_job_usd and spent_usd > 0:
        limits = replace(limits, cost_per_job_usd=max(1e-6, limits.cost_per_job_usd - spent_usd))
    return limits


def job_budget_spent(limits: QuotaLimits, record: Mapping[str, object]) -> bool:
    """Whether a job's earlier runs used up its tokens or its spend."""
    cost = record.get("cost_usd", 0.0)
    spent_usd = float(cost) if isinstance(cost, int | float) else 0.0
    return bool(
        (limits.tokens_per_job and job_tokens_spent(record) >= limits.tokens_per_job)
        or (limits.cost_per_job_usd and spent_usd >= limits.cost_per_job_usd)
    )


def next_midnight(now: datetime) -> datetime:
    """When the daily quotas reset: the next 00:00 UTC."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def day_of(now: datetime) -> str:
    """The UTC day a usage is counted on, as YYYY-MM-DD."""
    return now.astimezone(UTC).date().isoformat()


def decide(limits: QuotaLimits, usage: Usage, now: datetime) -> QuotaDecision:
    """May a job start now? The first limit reached refuses it."""
    if limits.concurrent_jobs and usage.active_jobs >= limits.concurrent_jobs:
        return QuotaDecision(
            False,
            f"{usage.active_jobs} of {limits.concurrent_jobs} concurrent jobs are running",
            "concurrent_jobs",
            limits.concurrent_jobs,
            usage.active_jobs,
            None,
        )
    if limits.jobs_per_user_per_hour and usage.user_jobs_last_hour >= limits.jobs_per_user_per_hour:
        oldest = usage.user_oldest_job_at or now
        return QuotaDecision(
            False,
            f"{usage.user_jobs_last_hour} of {limits.jobs_per_user_per_hour} jobs per user "
            "in the last hour are used",
            "jobs_per_user_per_hour",
            limits.jobs_per_user_per_hour,
            usage.user_jobs_last_hour,
            oldest + HOUR,
        )
    if limits.tokens_per_day and usage.tokens_today >= limits.tokens_per_day:
        return QuotaDecision(
            False,
            f"{usage.tokens_today:,} of {limits.tokens_per_day:,} tokens per day are used",
            "tokens_per_day",
            limits.tokens_per_day,
            usage.tokens_today,
            next_midnight(now),
        )
    if limits.cost_per_day_usd and usage.cost_today_usd >= limits.cost_per_day_usd:
        return QuotaDecision(
            False,
            f"${usage.cost_today_usd:.2f} of ${limits.cost_per_day_usd:.2f} per day is spent",
            "cost_per_day_usd",
            limits.cost_per_day_usd,
            round(usage.cost_today_usd, 6),
            next_midnight(now),
        )
    return ALLOWED


def run_token_budget(limits: QuotaLimits, usage: Usage, price: Price) -> int:
    """The tokens one run may spend: the least of the job's tokens, the day's tokens left, and
    the job's or the day's cost left at the price of the dearest token (so cost fails closed)."""
    candidates = [limits.tokens_per_job] if limits.tokens_per_job else []
    if limits.cost_per_job_usd:
        candidates.append(_tokens_for(limits.cost_per_job_usd, price))
    day = day_token_budget(limits, usage, price)
    if day is not None:
        candidates.append(day)
    return max(0, min(candidates)) if candidates else 0


def day_token_budget(limits: QuotaLimits, usage: Usage, price: Price) -> int | None:
    """The tokens the installation's runs may still spend today, together (None: no daily limit)."""
    candidates = []
    if limits.tokens_per_day:
        candidates.append(limits.tokens_per_day - usage.tokens_today)
    if limits.cost_per_day_usd:
        candidates.append(_tokens_for(limits.cost_per_day_usd - usage.cost_today_usd, price))
    return max(0, min(candidates)) if candidates else None


def _tokens_for(dollars: float, price: Price) -> int:
    # (the small epsilon keeps float rounding from costing a whole token)
    return int(dollars / price.dearest_per_token() + 1e-6)


def cost_of_run(
    usage: JobUsage, model: str, prices: Mapping[str, Price], also_allowed: Iterable[str] = ()
) -> float:
    """What a run cost: the tokens the relay counted at the price table's price for its model
    (or for a dearer one the relay also let it use). What the CLI reports is never used."""
    tokens = {name: getattr(usage, name) for name in TOKEN_FIELDS}
    return run_price(model_sent_for(model), also_allowed, prices).cost(tokens)


def limits_from(settings: Settings, installation_id: int | None) -> QuotaLimits:
    """The operator's limits for one installation: the global settings, then its overrides."""
    defaults = QuotaLimits(
        concurrent_jobs=settings.quota_concurrent_jobs,
        jobs_per_user_per_hour=settings.quota_jobs_per_user_per_hour,
        tokens_per_day=settings.quota_tokens_per_day,
        cost_per_day_usd=settings.quota_cost_per_day_usd,
        tokens_per_job=settings.job_token_budget,
        cost_per_job_usd=settings.quota_cost_per_job_usd,
    )
    limits = limits_for(defaults, settings.quota_installations, installation_id)
    return lowered_by(limits, settings.repo_limits)


def headroom(limits: QuotaLimits, usage: Usage) -> dict[str, float | int | None]:
    """Today's used / max / remaining per daily limit (None where there is no limit)."""

    def left(limit: float, used: float) -> float | None:
        return max(0.0, limit - used) if limit else None

    return {
        "tokens_used": usage.tokens_today,
        "tokens_max": limits.tokens_per_day or None,
        "tokens_remaining": left(limits.tokens_per_day, usage.tokens_today),
        "cost_used_usd": round(usage.cost_today_usd, 6),
        "cost_max_usd": limits.cost_per_day_usd or None,
        "cost_remaining_usd": left(limits.cost_per_day_usd, round(usage.cost_today_usd, 6)),
        "active_jobs": usage.active_jobs,
        "max_concurrent_jobs": limits.concurrent_jobs or None,
    }


def refusal_comment(decision: QuotaDecision, noun: str) -> str:
    """The one comment on the thread when a job is refused before it starts."""
    when = (
        decision.resets_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if decision.resets_at
        else "when a running job ends"
    )
    return (
        "<!-- fixwright:quota -->\n"
        f"**fixwright did not start this {noun} job:** the installation's quota "
        f"`{decision.limit_name}` is reached ({decision.reason}; limit {decision.limit:g}, "
        f"used {decision.used:g}).\n\n"
        f"It resets {'at ' if decision.resets_at else ''}{when}; trigger again after that, or ask "
        "the operator to raise the limit."
    )
