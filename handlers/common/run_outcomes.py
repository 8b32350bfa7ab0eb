"""Why a run of Claude Code ended without success, in words a maintainer can act on: pure text,
one entry per outcome, in the words of the job's kind."""

from __future__ import annotations

from app.config import Settings
from app.kinds import Words
from sandbox.runner import Outcome, RunResult

# (reason, next step) per outcome; `{...}` are filled in by `run_failure`.
OUTCOME_TEXT: dict[Outcome, tuple[str, str]] = {
    Outcome.TIMEOUT: (
        "Claude Code ran out of time: runs are limited to {minutes}.",
        "Narrow {subject} down (or ask the operator to raise "
        "`FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS`), {then_retry}",
    ),
    Outcome.MAX_TURNS: ("Claude Code reached its limit of {turns} before finishing.", "{narrow}"),
    Outcome.OUT_OF_MEMORY: (
        "the sandbox ran out of memory (its limit is {memory}).",
        "Ask the operator to raise `FIXWRIGHT_SANDBOX_MEMORY`, or point Claude at a smaller part "
        "of the code with `{command} <instructions>`.",
    ),
    Outcome.PIDS_LIMIT: (
        "a command in the sandbox started more processes than its limit of {pids} allows (a "
        "runaway loop or a fork bomb), so the run was not trusted.",
        "Check what the repository's scripts or tests start (or ask the operator to raise "
        "`FIXWRIGHT_SANDBOX_PIDS`); {then_retry}",
    ),
    Outcome.WORKSPACE_LIMIT: (
        "the workspace grew past its limit while Claude Code ran (it held {limit_passed}), so "
        "the run was stopped.",
        "Keep downloads and build output out of the repository (or ask the operator to raise "
        "`FIXWRIGHT_WORKSPACE_MAX_BYTES` or `FIXWRIGHT_WORKSPACE_MAX_FILES`); {then_retry}",
    ),
    Outcome.MODEL_AUTHENTICATION: (
        "the model API refused fixwright's credentials.",
        "The operator needs to check `FIXWRIGHT_ANTHROPIC_API_KEY`; {then_retry}",
    ),
    Outcome.MODEL_BUDGET: (
        "the model budget was spent before Claude finished (the job's budget of at most "
        "{job_budget} tokens, or what was left of the installation's daily tokens or cost; "
        "`GET /quota` shows which).",
        "Narrow {subject} down, wait for the daily quota to reset at 00:00 UTC, or ask the "
        "operator to raise the limits (README, Quotas); {then_retry}",
    ),
    Outcome.MODEL_OVERLOADED: (
        "the model API was overloaded and did not answer.",
        "Wait a few minutes, {then_retry}",
    ),
    Outcome.MODEL_ERROR: ("the model API returned an error ({detail}).", "{again}"),
}
UNEXPECTED = (
    "Claude Code stopped unexpectedly (exit code {exit_code}).",
    "{again} If it happens again, the operator can find the details in the service log.",
)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def minutes(seconds: float) -> str:
    value = seconds / 60
    return f"{value:.0f} minutes" if value >= 2 else f"{seconds:.0f} seconds"


def run_failure(result: RunResult, settings: Settings, words: Words) -> tuple[str, str]:
    """(reason, next step) for a run that did not succeed, in the words of the job's kind."""
    summary = result.summary.strip()
    values = {
        "minutes": minutes(settings.sandbox_timeout_seconds),
        "turns": plural(settings.max_turns, "turn"),
        "memory": settings.sandbox_memory,
        "pids": settings.sandbox_pids,
        "limit_passed": result.limit_passed,
        "job_budget": f"{settings.job_token_budget:,}",
        "detail": summary.splitlines()[0][:200] if summary else "no detail given",
        "exit_code": result.exit_code,
        "subject": words.subject,
        "narrow": words.narrow,
        "command": words.retry_command,
        "again": words.retry_hint,
        "then_retry": words.then_retry,
    }
    reason, next_step = OUTCOME_TEXT.get(result.outcome, UNEXPECTED)
    return reason.format_map(values), next_step.format_map(values)
