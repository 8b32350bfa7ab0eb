"""Every way a run can end early has its own words, in the words of the job's kind."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.kinds import JobKind
from handlers import fix, review
from handlers.common.run_outcomes import OUTCOME_TEXT, run_failure
from sandbox.runner import Outcome, RunResult
from sandbox.stream import FinalResult
from sandbox.usage import JobUsage

ENDED_EARLY = [outcome for outcome in Outcome if outcome is not Outcome.SUCCESS]


def ended(outcome: Outcome, text: str = "upstream said no {0}") -> RunResult:
    final = FinalResult("error", True, 3, 10, 0.0, {}, text)
    return RunResult(outcome, final, 1, JobUsage(), 5, "", 2.0, limit_passed="more than 1 GB")


@pytest.mark.parametrize("outcome", ENDED_EARLY)
@pytest.mark.parametrize("kind", [fix.KIND, review.KIND], ids=lambda kind: kind.name)
def test_each_outcome_names_a_reason_and_a_next_step_of_the_kinds_own(
    outcome: Outcome, kind: JobKind
) -> None:
    """Filled in whole (no placeholder left), and never naming another kind's command."""
    words = kind.words
    reason, next_step = run_failure(ended(outcome), Settings(max_turns=7), words)
    assert reason and next_step
    assert "{" not in reason.replace("{0}", "") and "{" not in next_step
    other = "/review" if words.retry_command == "/fix" else "/fix"
    assert f"`{other}" not in reason + next_step


def test_only_an_unexpected_exit_falls_back_to_the_generic_words() -> None:
    """Each outcome but the CLI crash has an entry of its own."""
    assert set(OUTCOME_TEXT) == set(ENDED_EARLY) - {Outcome.CLI_CRASH}
    reason, next_step = run_failure(ended(Outcome.CLI_CRASH), Settings(), fix.KIND.words)
    assert reason == "Claude Code stopped unexpectedly (exit code 1)."
    assert next_step.startswith("Comment `/fix` to try again. If it happens again")


def test_what_the_model_api_said_is_quoted_as_data() -> None:
    """The error's first line is shown as it came, braces and all, cut at 200 characters."""
    reason, _ = run_failure(
        ended(Outcome.MODEL_ERROR, "bad {request}\nmore"), Settings(), fix.KIND.words
    )
    assert reason == "the model API returned an error (bad {request})."
    assert run_failure(ended(Outcome.MAX_TURNS), Settings(max_turns=1), review.KIND.words) == (
        "Claude Code reached its limit of 1 turn before finishing.",
        "Comment `/review <what to focus on>` to narrow the review down.",
    )
