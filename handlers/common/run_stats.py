"""What a run of Claude Code cost, for the PR body, the progress comment, the review and the job
record: the relay's counts at the price table's price, as the quota ledger charges them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from app.config import Settings
from app.quota import cost_of_run
from sandbox.redaction import redact_text
from sandbox.runner import RunResult
from sandbox.usage import JobUsage


@dataclass(frozen=True)
class RunStats:
    """What a run cost: shown under the PR body, the progress comment and the review."""

    model: str
    turns: int
    usage: JobUsage
    cost_usd: float
    seconds: float


def run_stats(result: RunResult, model: str, seconds: float, settings: Settings) -> RunStats:
    """The run's cost; what the CLI reports of its own cost is never used."""
    return RunStats(
        model=model or "default",
        turns=result.num_turns,
        usage=result.usage,
        cost_usd=cost_of_run(result.usage, model, settings.model_prices, settings.relay_models),
        seconds=seconds,
    )


def usage_record(stats: RunStats) -> dict[str, Any]:
    """What the job record keeps of a run's cost."""
    usage = stats.usage
    return {
        "model": stats.model,
        "turns": stats.turns,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cost_usd": stats.cost_usd,
        "seconds": round(stats.seconds, 3),
    }


def without_secrets(result: RunResult, secrets: Iterable[str]) -> RunResult:
    """The run with secrets taken out of Claude's closing text, before any of it is cut or posted.

    Redacting first matters: a summary cut to length can split a secret (a private key, say)
    so that what is left no longer matches it, and the half that remains would be published.
    """
    if result.final is None or not result.final.result:
        return result
    text = redact_text(result.final.result, tuple(secrets))
    return replace(result, final=replace(result.final, result=text))


def render_run_stats(stats: RunStats) -> str:
    """One line: model, turns, tokens (input, output, cache), cost and duration."""
    usage = stats.usage
    tokens = (
        f"{usage.input_tokens:,} in · {usage.output_tokens:,} out · "
        f"{usage.cache_read_input_tokens:,} cache read · "
        f"{usage.cache_creation_input_tokens:,} cache write"
    )
    model = f"`{stats.model}`" if stats.model else "default model"
    turns = f"{stats.turns} turn" + ("" if stats.turns == 1 else "s")
    return (
        f"🤖 {model} · {turns} · tokens: {tokens} · ${stats.cost_usd:.4f} · "
        f"{render_duration(stats.seconds)}"
    )


def render_duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `1 h 2 min`."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def combined(first: RunStats, then: RunStats) -> RunStats:
    """Two runs of one job as one (a fix and its repair round): turns, tokens, cost and time
    added, under the later run's model."""
    return RunStats(
        model=then.model or first.model,
        turns=first.turns + then.turns,
        usage=first.usage + then.usage,
        cost_usd=first.cost_usd + then.cost_usd,
        seconds=first.seconds + then.seconds,
    )
