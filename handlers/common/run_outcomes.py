"""Why a run of Claude Code ended without success, in words a maintainer can act on: pure text,
one entry per outcome, in the words of the job's kind."""

from __future__ import annotations

from app.config import Settings
from app.kinds import Words
from sandbox.runner import Outcome, RunResult


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def minutes(seconds: float) -> str:
    value = seconds / 60
    return f"{value:.0f} minutes" if value >= 2 else f"{seconds:.0f} seconds"


def run_failure(result: RunResult, settings: Settings, words: Words) -> tuple[str, str]:
    """(reason, next step) for a run that did not succeed, in the words of the job's kind."""
    again, then_again = words.retry_hint, words.then_retry
    outcome = result.outcome
    if outcome is Outcome.TIMEOUT:
        return (
            f"Claude Code ran out of time: runs are limited to {minutes(settings.sandbox_timeout_seconds)}.",
            f"Narrow {words.subject} down (or ask the operator to raise "
            f"`FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS`), {then_again}",
        )
    if outcome is Outcome.MAX_TURNS:
        return (
            f"Claude Code reached its limit of {plural(settings.max_turns, 'turn')} before "
            "finishing.",
            words.narrow,
        )
    if outcome is Outcome.OUT_OF_MEMORY:
        return (
            f"the sandbox ran out of memory (its limit is {settings.sandbox_memory}).",
            f"Ask the operator to raise `FIXWRIGHT_SANDBOX_MEMORY`, or point Claude at a smaller part "
            f"of the code with `{words.retry_command} <instructions>`.",
        )
    if outcome is Outcome.PIDS_LIMIT:
        return (
            f"a command in the sandbox started more processes than its limit of "
            f"{settings.sandbox_pids} allows (a runaway loop or a fork bomb), so the run was "
            "not trusted.",
            "Check what the repository's scripts or tests start (or ask the operator to raise "
            f"`FIXWRIGHT_SANDBOX_PIDS`); {then_again}",
        )
    if outcome is Outcome.WORKSPACE_LIMIT:
        return (
            f"the workspace grew past its limit while Claude Code ran (it held "
            f"{result.limit_passed}), so the run was stopped.",
            "Keep downloads and build output out of the repository (or ask the operator to raise "
            f"`FIXWRIGHT_WORKSPACE_MAX_BYTES` or `FIXWRIGHT_WORKSPACE_MAX_FILES`); {then_again}",
        )
    if outcome is Outcome.MODEL_AUTHENTICATION:
        return (
            "the model API refused fixwright's credentials.",
            f"The operator needs to check `FIXWRIGHT_ANTHROPIC_API_KEY`; {then_again}",
        )
    if outcome is Outcome.MODEL_BUDGET:
        return (
            "the model budget was spent before Claude finished (the job's budget of at most "
            f"{settings.job_token_budget:,} tokens, or what was left of the installation's daily "
            "tokens or cost; `GET /quota` shows which).",
            f"Narrow {words.subject} down, wait for the daily quota to reset at 00:00 UTC, or ask the "
            f"operator to raise the limits (README, Quotas); {then_again}",
        )
    if outcome is Outcome.MODEL_OVERLOADED:
        return (
            "the model API was overloaded and did not answer.",
            f"Wait a few minutes, {then_again}",
        )
    if outcome is Outcome.MODEL_ERROR:
        detail = (
            result.summary.strip().splitlines()[0][:200]
            if result.summary.strip()
            else "no detail given"
        )
        return (f"the model API returned an error ({detail}).", again)
    return (
        f"Claude Code stopped unexpectedly (exit code {result.exit_code}).",
        again + " If it happens again, the operator can find the details in the service log.",
    )
