"""Why a fix run ended, in words a maintainer can act on: pure text, one entry per outcome."""

from __future__ import annotations

from app.config import Settings
from sandbox.runner import Outcome, RunResult
from sandbox.workspace_walk import Refusal, WorkspaceRefused

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
    if outcome is Outcome.WORKSPACE_LIMIT:
        return (
            f"the workspace grew past its limit while Claude Code ran (it held "
            f"{result.limit_passed}), so the run was stopped.",
            "Keep downloads and build output out of the repository (or ask the operator to raise "
            f"`FIXWRIGHT_WORKSPACE_MAX_BYTES` or `FIXWRIGHT_WORKSPACE_MAX_FILES`); {THEN_RETRY}",
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


def code_path(path: str) -> str:
    """A path the agent chose, as inline code that nothing in it can break out of."""
    text = "".join(char if char.isprintable() else "?" for char in path.replace("`", "'"))
    return f"`{text[:200] + '…' if len(text) > 200 else text}`"


# Limits an operator may raise, by the refusal that names them.
_SETTINGS: dict[Refusal, str] = {
    Refusal.FILE_TOO_LARGE: "FIXWRIGHT_WORKSPACE_MAX_FILE_BYTES",
    Refusal.TOO_MANY_BYTES: "FIXWRIGHT_WORKSPACE_MAX_BYTES",
    Refusal.TOO_MANY_FILES: "FIXWRIGHT_WORKSPACE_MAX_FILES",
    Refusal.CHANGES_TOO_LARGE: "FIXWRIGHT_WORKSPACE_MAX_CHANGED_BYTES",
}
# What fixwright does not do with the rest, said after naming it.
_NEVER: dict[Refusal, str] = {
    Refusal.NESTED_REPOSITORY: "fixwright never reads or commits one",
    Refusal.SPECIAL_FILE: "git cannot hold one, and fixwright never opens one",
    Refusal.TOO_DEEP: "fixwright reads no deeper",
    Refusal.UNREADABLE: "fixwright commits only what it can read",
    Refusal.IGNORE_RULES: "fixwright reads no more of them",
}


def workspace_refusal(error: WorkspaceRefused) -> tuple[str, str]:
    """(reason, next step) when the workspace holds what fixwright will not commit."""
    where = code_path(error.path)
    setting = _SETTINGS.get(error.refusal)
    if setting is not None:
        found = (
            f"include {error.what} at {where}"
            if error.refusal is Refusal.FILE_TOO_LARGE
            else f"hold {error.what} (the limit was reached at {where})"
        )
        return (
            f"Claude's changes {found}, so nothing was pushed.",
            "Keep generated and downloaded files out of the change (or in `.gitignore`), or ask "
            f"the operator to raise `{setting}`; {THEN_RETRY}",
        )
    reason = (
        f"Claude's changes include {error.what} at {where}; {_NEVER[error.refusal]}, so nothing "
        "was pushed."
    )
    if error.refusal is Refusal.NESTED_REPOSITORY:
        return reason, (
            "Comment `/fix <instructions>` asking for the change without another repository in "
            "it (files copied from one leave its `.git` behind)."
        )
    return reason, (
        "Comment `/fix <instructions>` asking Claude to remove it, or list it in `.gitignore` so "
        "it is left out."
    )
