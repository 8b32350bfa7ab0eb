"""Quota decisions as pure functions: limits and usage in, allowed or refused (with reset time) out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.config import QUOTA_LIMIT_NAMES, ConfigError, load_settings
from app.quota import (
    LIMIT_NAMES,
    QuotaLimits,
    Usage,
    cost_of_run,
    day_token_budget,
    decide,
    limits_from,
    lowered_by,
    refusal_comment,
    run_token_budget,
)
from app.quota_prices import DEFAULT_PRICES, family_of, price_for
from sandbox.usage import JobUsage

NOON = datetime(2025, 3, 14, 12, 30, tzinfo=UTC)
MIDNIGHT = datetime(2025, 3, 15, 0, 0, tzinfo=UTC)
LIMITS = QuotaLimits(
    concurrent_jobs=2,
    jobs_per_user_per_hour=3,
    tokens_per_day=1000,
    cost_per_day_usd=5.0,
    tokens_per_job=600,
    cost_per_job_usd=1.0,
)


def test_a_job_within_every_limit_may_start() -> None:
    """Usage below every limit allows the job."""
    assert decide(LIMITS, Usage(tokens_today=999, cost_today_usd=4.99, active_jobs=1), NOON).allowed


def test_concurrency_refuses_until_a_running_job_ends() -> None:
    """Two running jobs of two allowed refuse a third, with no clock reset (a job must end)."""
    decision = decide(LIMITS, Usage(active_jobs=2), NOON)
    assert (decision.allowed, decision.limit_name, decision.used, decision.resets_at) == (
        False,
        "concurrent_jobs",
        2,
        None,
    )
    assert "when a running job ends" in refusal_comment(decision, "fix")


def test_jobs_per_user_reset_an_hour_after_the_oldest_one() -> None:
    """A user's fourth job in an hour is refused until the first of them is an hour old."""
    first = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    decision = decide(LIMITS, Usage(user_jobs_last_hour=3, user_oldest_job_at=first), NOON)
    assert decision.limit_name == "jobs_per_user_per_hour"
    assert decision.resets_at == datetime(2025, 3, 14, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("usage", "limit_name"),
    [(Usage(tokens_today=1000), "tokens_per_day"), (Usage(cost_today_usd=5.0), "cost_per_day_usd")],
)
def test_daily_limits_reset_at_midnight_utc(usage: Usage, limit_name: str) -> None:
    """A spent daily token or cost quota refuses until the next 00:00 UTC."""
    decision = decide(LIMITS, usage, NOON)
    assert (decision.allowed, decision.limit_name, decision.resets_at) == (
        False,
        limit_name,
        MIDNIGHT,
    )
    comment = refusal_comment(decision, "fix")
    assert limit_name in comment and "2025-03-15 00:00 UTC" in comment


def test_zero_means_no_limit() -> None:
    """A limit set to 0 never refuses."""
    assert decide(QuotaLimits(0, 0, 0, 0, 0, 0), Usage(10**9, 10**6, 99, 99), NOON).allowed


def test_the_run_budget_is_the_least_of_job_day_and_cost() -> None:
    """The run gets min(per-job tokens, tokens left today, dollars left / dearest token price)."""
    sonnet = DEFAULT_PRICES["sonnet"]  # $15 per million output tokens is its dearest
    assert run_token_budget(LIMITS, Usage(), sonnet) == 600
    assert run_token_budget(LIMITS, Usage(tokens_today=900), sonnet) == 100
    roomy = QuotaLimits(tokens_per_job=10**9, tokens_per_day=0, cost_per_job_usd=0.015)
    assert run_token_budget(roomy, Usage(), sonnet) == 1000
    spent_day = QuotaLimits(tokens_per_job=10**9, tokens_per_day=0, cost_per_day_usd=5.0)
    assert run_token_budget(spent_day, Usage(cost_today_usd=5.0), sonnet) == 0


def test_cost_is_the_relays_tokens_at_the_price_table() -> None:
    """Tokens are priced by the model's family; no model is the CLI's default (an Opus)."""
    usage = JobUsage(input_tokens=1_000_000, output_tokens=1_000_000, requests=3)
    assert cost_of_run(usage, "claude-sonnet-4-5", DEFAULT_PRICES) == pytest.approx(18.0)
    assert cost_of_run(usage, "claude-3-5-haiku", DEFAULT_PRICES) == pytest.approx(4.8)
    assert cost_of_run(usage, "", DEFAULT_PRICES) == pytest.approx(90.0)
    assert cost_of_run(usage, "sonnet", DEFAULT_PRICES) == pytest.approx(18.0)


def test_a_run_that_may_use_other_models_is_charged_at_the_dearest() -> None:
    """The relay lets the operator's extra models through; their tokens never cost less."""
    usage = JobUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_of_run(usage, "claude-haiku-4-5", DEFAULT_PRICES, ["claude-sonnet-4-5"]) == (
        pytest.approx(18.0)
    )
    assert cost_of_run(usage, "claude-sonnet-4-5", DEFAULT_PRICES, ["claude-haiku-4-5"]) == (
        pytest.approx(18.0)
    )


def test_the_day_budget_is_what_all_runs_may_still_spend_together() -> None:
    """Tokens or dollars left today, whichever is less; None without a daily limit."""
    sonnet = DEFAULT_PRICES["sonnet"]
    assert day_token_budget(LIMITS, Usage(tokens_today=900), sonnet) == 100
    by_cost = QuotaLimits(tokens_per_day=0, cost_per_day_usd=0.015)
    assert day_token_budget(by_cost, Usage(), sonnet) == 1000
    assert day_token_budget(LIMITS, Usage(tokens_today=5000), sonnet) == 0
    assert (
        day_token_budget(QuotaLimits(tokens_per_day=0, cost_per_day_usd=0), Usage(), sonnet) is None
    )


def test_unknown_models_are_priced_as_the_dearest_family() -> None:
    """A model the table does not know costs as much as opus, so budgets fail closed."""
    assert family_of("some-new-model") == "opus"
    assert family_of("") == "sonnet"
    assert price_for("mystery") == DEFAULT_PRICES["opus"]


def test_a_repository_may_lower_limits_but_never_raise_them() -> None:
    """Repository limits below the operator's apply; those above are ignored."""
    lowered = lowered_by(LIMITS, {"tokens_per_day": 500, "cost_per_day_usd": 99.0, "bogus": 1})
    assert lowered.tokens_per_day == 500
    assert lowered.cost_per_day_usd == 5.0


def test_installation_overrides_come_from_settings() -> None:
    """FIXWRIGHT_QUOTA_INSTALLATIONS replaces the global limits for that installation only."""
    settings = load_settings(
        {
            "FIXWRIGHT_QUOTA_TOKENS_PER_DAY": "1000",
            "FIXWRIGHT_QUOTA_INSTALLATIONS": '{"42": {"tokens_per_day": 5000}}',
            "FIXWRIGHT_MODEL_PRICES": (
                '{"sonnet": {"input": 1, "output": 2, "cache_write": 1, "cache_read": 0.1}}'
            ),
        },
        dotenv=None,
        for_github=False,
    )
    assert limits_from(settings, 42).tokens_per_day == 5000
    assert limits_from(settings, 7).tokens_per_day == 1000
    assert settings.model_prices["sonnet"].output == 2
    assert settings.model_prices["opus"] == DEFAULT_PRICES["opus"]


def test_bad_quota_settings_name_the_variable() -> None:
    """An unknown limit name or a non-number refuses to start, naming the variable."""
    with pytest.raises(ConfigError) as error:
        load_settings(
            {
                "FIXWRIGHT_QUOTA_INSTALLATIONS": '{"42": {"tokns_per_day": 5}}',
                "FIXWRIGHT_QUOTA_COST_PER_DAY_USD": "lots",
            },
            dotenv=None,
            for_github=False,
        )
    text = str(error.value)
    assert "FIXWRIGHT_QUOTA_INSTALLATIONS" in text and "tokns_per_day" in text
    assert "FIXWRIGHT_QUOTA_COST_PER_DAY_USD" in text


def test_the_setting_and_the_model_name_the_same_limits() -> None:
    """The limit names config accepts are exactly QuotaLimits' fields."""
    assert set(QUOTA_LIMIT_NAMES) == set(LIMIT_NAMES)
