"""What the host's own test runs said of a fix, and how the thread is told: pure data and text.

fixwright never says a fix works when its own run says otherwise: a verdict other than PASSED or
NOT_VERIFIED puts a prefix on the PR's title and fails (or neutralises) the check run, and the
output's end is shown, redacted and link-free, where something still fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from handlers.common.untrusted_text import code_safe, defang
from sandbox.redaction import redact_text
from sandbox.test_output import TestRun, TestStatus, clean_output

TAIL_CHARACTERS = 4_000  # of the output's end, in the PR body and the check run
TAIL_LINES = 60
COMMAND_SHOWN = 300
# Whatever a test run printed that says its environment, not the code, is missing something:
# a module or package the runner cannot import or find, a tool not installed. Substrings, looked
# for in time linear in the output.
ENVIRONMENT_SIGNS = (
    "ModuleNotFoundError",
    "ImportError",
    "No module named",
    "ERROR collecting",
    "Cannot find module",
    "command not found",
    "cannot find package",
    "no required module provides package",
    "could not find `Cargo.toml`",
    "failed to download",
    "failed to get `",
    "Could not resolve host",
    "npm ERR! missing script",
)
COMMAND_NOT_RUNNABLE = (126, 127)  # the shell's "cannot execute" and "not found"


class Verdict(StrEnum):
    """What the host's runs say of the fix."""

    PASSED = "passed"  # the tests pass after the change
    FAILED = "failed"  # they fail after it (and after any repair round)
    TIMED_OUT = "timed_out"  # they ran out of time after it
    COULD_NOT_RUN = "could_not_run"  # the environment cannot run them, before the change as well
    NOT_VERIFIED = "not_verified"  # no test command is known, or verification is off


# fixwright_verifications_total{result} (app/metrics.py VERIFICATION_RESULTS).
METRIC_RESULTS = {
    Verdict.PASSED: "passed",
    Verdict.FAILED: "failed",
    Verdict.TIMED_OUT: "error",
    Verdict.COULD_NOT_RUN: "error",
    Verdict.NOT_VERIFIED: "not_verified",
}
TITLE_PREFIXES = {
    Verdict.FAILED: "[tests failing]",
    Verdict.TIMED_OUT: "[tests timed out]",
    Verdict.COULD_NOT_RUN: "[tests could not run]",
}
CONCLUSIONS = {
    Verdict.PASSED: "success",
    Verdict.NOT_VERIFIED: "success",  # the job did its part; the check run says "not verified"
    Verdict.FAILED: "failure",
    Verdict.TIMED_OUT: "failure",
    Verdict.COULD_NOT_RUN: "neutral",
}
HEADLINES = {
    Verdict.PASSED: "✅ **The tests pass after the change.**",
    Verdict.FAILED: "❌ **The tests still fail after the change.**",
    Verdict.TIMED_OUT: "⏱️ **The tests ran out of time after the change.**",
    Verdict.COULD_NOT_RUN: "⚠️ **The tests could not run here**, so the change is not verified.",
    Verdict.NOT_VERIFIED: "⚪ **Not verified**",
}
SHORT = {
    Verdict.PASSED: "tests pass",
    Verdict.FAILED: "tests failing",
    Verdict.TIMED_OUT: "tests timed out",
    Verdict.COULD_NOT_RUN: "tests could not run",
    Verdict.NOT_VERIFIED: "not verified",
}


@dataclass(frozen=True)
class Verification:
    """The test command, how it was chosen, its runs before and after the change, and the verdict."""

    verdict: Verdict
    command: str = ""
    chosen: str = ""  # how the command was chosen ("detected from `pyproject.toml`"), or why none
    before: TestRun | None = None
    after: TestRun | None = None
    rounds: int = 0  # repair rounds Claude was given
    note: str = ""  # why a failure was not (or no more) given back to Claude

    @property
    def metric_result(self) -> str:
        return METRIC_RESULTS[self.verdict]

    @property
    def title_prefix(self) -> str:
        return TITLE_PREFIXES.get(self.verdict, "")

    @property
    def conclusion(self) -> str:
        return CONCLUSIONS[self.verdict]

    @property
    def short(self) -> str:
        """`tests pass`, `tests failing`, `not verified`: for a check run's title."""
        return SHORT[self.verdict]

    @property
    def still_failing(self) -> bool:
        """The result's own run did not pass: its output is shown."""
        return self.after is not None and not self.after.passed


def not_verified(why: str) -> Verification:
    """No run: `why` says what is missing (no command known, verification turned off)."""
    return Verification(Verdict.NOT_VERIFIED, chosen=why)


def environment_sign(output: str) -> str:
    """The first sign in `output` that the environment lacks what the tests need, or ""."""
    return next((sign for sign in ENVIRONMENT_SIGNS if sign in output), "")


def judge(before: TestRun | None, after: TestRun) -> tuple[Verdict, str]:
    """The verdict on the result's run, and why a failure is not worth a repair round.

    A failure goes back to Claude unless it is the environment's: the run timed out (another
    round would most likely spend the whole limit again), could not run at all (no image, out of
    memory, the disk limit), or failed the same way on the base commit, where Claude changed
    nothing: the command could not start there either (exit code 126 or 127), or both runs show
    a module, package or tool that cannot be found.
    """
    if after.status is TestStatus.PASSED:
        return Verdict.PASSED, ""
    if after.status is TestStatus.TIMED_OUT:
        return Verdict.TIMED_OUT, (
            "The tests ran out of time after the change; another round would most likely spend "
            "the whole limit again."
        )
    if after.status is TestStatus.ERROR:
        return Verdict.COULD_NOT_RUN, f"The tests could not run after the change: {after.problem}."
    if before is None or before.status is not TestStatus.FAILED:
        return Verdict.FAILED, ""
    if before.exit_code in COMMAND_NOT_RUNNABLE and after.exit_code in COMMAND_NOT_RUNNABLE:
        return Verdict.COULD_NOT_RUN, (
            f"The command could not start (exit code {after.exit_code}), before the change as "
            "well: the image lacks it."
        )
    sign = environment_sign(before.tail)
    if sign and environment_sign(after.tail):
        return Verdict.COULD_NOT_RUN, (
            f"The tests could not be collected before the change either (`{sign}`): the "
            "environment lacks what they need."
        )
    return Verdict.FAILED, ""


def link_free(text: str) -> str:
    """Output with no address a reader could follow: `https://` becomes `https[:]//`."""
    return text.replace("://", "[:]//")


def output_tail(text: str, secrets: Iterable[str] = ()) -> str:
    """The end of a run's output fit to show: redacted first, then cut to whole lines."""
    text = redact_text(clean_output(text), tuple(secrets))
    lines = text[-TAIL_CHARACTERS:].splitlines()
    if len(text) > TAIL_CHARACTERS and len(lines) > 1:
        lines = lines[1:]  # the first line was cut
    return defang(link_free("\n".join(lines[-TAIL_LINES:]).strip("\n")))


def fenced(text: str) -> str:
    """A code block nothing in `text` can close: its fence is longer than any backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def command_code(command: str) -> str:
    """The command as inline code, on one line and short."""
    line = " ".join(command.split())
    if len(line) > COMMAND_SHOWN:
        line = line[: COMMAND_SHOWN - 1] + "…"
    return f"`{code_safe(line)}`"


def describe_run(run: TestRun | None) -> str:
    """`2 failed, 10 passed (exit code 1, 3 s)`."""
    if run is None:
        return "not run"
    exit_code = f"exit code {run.exit_code}, " if run.exit_code is not None else ""
    return f"{run.describe()} ({exit_code}{run.seconds:.0f} s)"


def before_and_after(verification: Verification) -> str:
    """`2 failed, 10 passed → 12 passed`."""
    before = verification.before.describe() if verification.before else "not run"
    after = verification.after.describe() if verification.after else "not run"
    return f"{before} → {after}"


def render_verification(
    verification: Verification, secrets: Iterable[str] = (), heading: str = "## Verification"
) -> str:
    """The Verification section of the PR body and the check run: the command and how it was
    chosen, before and after, and the output's end while something still fails."""
    if verification.verdict is Verdict.NOT_VERIFIED:
        return f"{heading}\n\n{HEADLINES[Verdict.NOT_VERIFIED]}: {verification.chosen}"
    rounds = verification.rounds
    after_label = "After the change" + (
        f" and {rounds} repair round{'s' if rounds != 1 else ''}" if rounds else ""
    )
    parts = [
        heading,
        f"{HEADLINES[verification.verdict]} {before_and_after(verification)}",
        "\n".join(
            [
                f"- **Command:** {command_code(verification.command)} ({verification.chosen}), "
                "run by fixwright in a fresh container with no network, on a copy of each tree",
                f"- **Before the change:** {describe_run(verification.before)}",
                f"- **{after_label}:** {describe_run(verification.after)}",
            ]
        ),
    ]
    if verification.note:
        parts.append(verification.note)
    if verification.still_failing and verification.after is not None:
        tail = output_tail(verification.after.tail, secrets)
        if tail:
            parts.append(
                "<details><summary>The end of the output after the change</summary>\n\n"
                f"{fenced(tail)}\n\n</details>"
            )
    return "\n\n".join(parts)


def verification_line(verification: Verification) -> str:
    """The verification in one line, for the progress comment."""
    if verification.verdict is Verdict.NOT_VERIFIED:
        return f"not verified: {verification.chosen.rstrip('.')}"
    return f"{command_code(verification.command)}: {before_and_after(verification)}"
