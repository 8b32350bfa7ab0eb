"""Why a fix run ended, in words a maintainer can act on: pure text, one entry per outcome."""

from __future__ import annotations

from app.config import Settings
from sandbox.runner import Outcome, RunResult

RETRY = "Comment `/fix` to try again."
THEN_RETRY = "then comment `/fix` to try again."


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def minutes(seconds: float) -> str:
    value = seconds / 60
    return f"{value:.0f} minutes" if value >= 2 else f"{seconds:.0f} seconds"


def run_failure(result: RunResult, settings: Settings) -> tuple[str, str]:
    """(reason, next step) for a run that did not succeed."""
    outcome = result.outcome
    if outcome is Outcome.TIMEOUT:
        return (
            f"Claude Code ran out of time: runs are limited to {minutes(settings.sandbox_timeout_seconds)}.",
            "Narrow the issue down (or ask the operator to raise "
            f"`FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS`), {THEN_RETRY}",
        )
    if outcome is Outcome.MAX_TURNS:
        return (
            f"Claude Code reached its limit of {plural(settings.max_turns, 'turn')} before "
            "finishing.",
            "Split the issue into smaller steps, or comment `/fix` with more specific instructions.",
        )
    if outcome is Outcome.OUT_OF_MEMORY:
        return (
            f"the sandbox ran out of memory (its limit is {settings.sandbox_memory}).",
            "Ask the operator to raise `FIXWRIGHT_SANDBOX_MEMORY`, or point Claude at a smaller part "
            "of the code with `/fix <instructions>`.",
        )
    if outcome is Outcome.PIDS_LIMIT:
        return (
            f"a command in the sandbox started more processes than its limit of "
            f"{settings.sandbox_pids} allows (a runaway loop or a fork bomb), so the run was "
            "not trusted.",
            "Check what the repository's scripts or tests start (or ask the operator to raise "
            f"`FIXWRIGHT_SANDBOX_PIDS`); {THEN_RETRY}",
        )
    if outcome is Outcome.MODEL_AUTHENTICATION:
        return (
            "the model API refused fixwright's credentials.",
            f"The operator needs to check `FIXWRIGHT_ANTHROPIC_API_KEY`; {THEN_RETRY}",
        )
    if outcome is Outcome.MODEL_BUDGET:
        return (
            "the model budget was spent before Claude finished (the job's budget of at most "
            f"{settings.job_token_budget:,} tokens, or what was left of the installation's daily "
            "tokens or cost; `GET /quota` shows which).",
            "Narrow the issue down, wait for the daily quota to reset at 00:00 UTC, or ask the "
            f"operator to raise the limits (README, Quotas); {THEN_RETRY}",
        )
    if outcome is Outcome.MODEL_OVERLOADED:
        return (
            "the model API was overloaded and did not answer.",
            f"Wait a few minutes, {THEN_RETRY}",
        )
    if outcome is Outcome.MODEL_ERROR:
        detail = (
            result.summary.strip().splitlines()[0][:200]
            if result.summary.strip()
            else "no detail given"
        )
        return (f"the model API returned an error ({detail}).", RETRY)
    return (
        f"Claude Code stopped unexpectedly (exit code {result.exit_code}).",
        RETRY + " If it happens again, the operator can find the details in the service log.",
    )
