"""The caps on what the host reads from a run: settings, the CLI's output lines, the words in the thread."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings, load_settings
from handlers import fix
from handlers.common.run_outcomes import run_failure
from handlers.fix.outcomes import code_path, workspace_refusal
from handlers.fix.read_back import workspace_limits
from sandbox.container_stream import LineSplitter
from sandbox.runner import Outcome, RunResult
from sandbox.usage import JobUsage
from sandbox.workspace_walk import Refusal, WorkspaceRefused

WORKSPACE_VARIABLES = {
    "FIXWRIGHT_WORKSPACE_MAX_FILE_BYTES": "1000",
    "FIXWRIGHT_WORKSPACE_MAX_BYTES": "2000000",
    "FIXWRIGHT_WORKSPACE_MAX_FILES": "30",
    "FIXWRIGHT_WORKSPACE_MAX_CHANGED_BYTES": "400",
    "FIXWRIGHT_SANDBOX_MAX_LINE_BYTES": "100000",
}


def test_the_workspace_caps_are_read_validated_and_reach_the_walk() -> None:
    """Each cap has a default, is read from its variable, and a bad value is named with the fix."""
    defaults = load_settings({}, None, for_github=False)
    assert defaults.workspace_max_file_bytes == 50 * 1024 * 1024
    assert defaults.sandbox_max_line_bytes == 4 * 1024 * 1024

    settings = load_settings(WORKSPACE_VARIABLES, None, for_github=False)
    limits = workspace_limits(settings)
    assert (limits.walk.max_file_bytes, limits.walk.max_total_bytes) == (1000, 2_000_000)
    assert (limits.walk.max_files, limits.max_changed_bytes) == (30, 400)
    assert settings.sandbox_max_line_bytes == 100_000

    bad = {"FIXWRIGHT_WORKSPACE_MAX_FILES": "lots", "FIXWRIGHT_WORKSPACE_MAX_BYTES": "10"}
    with pytest.raises(ConfigError) as raised:
        load_settings(bad, None, for_github=False)
    assert [problem.split(" ")[0] for problem in raised.value.problems] == [
        "FIXWRIGHT_WORKSPACE_MAX_BYTES",
        "FIXWRIGHT_WORKSPACE_MAX_FILES",
    ]


def test_lines_over_the_cap_are_dropped_whole_and_counted() -> None:
    """A line longer than the cap never accumulates, in one piece or many; the next line is intact."""
    lines = LineSplitter(max_bytes=10)

    assert lines.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert lines.feed(b":2}\n") == [b'{"b":2}']
    assert lines.feed(b"x" * 6) == []
    assert lines.feed(b"x" * 6) == []  # now over the cap: dropped, not kept
    assert lines.feed(b"x" * 1000) == []
    assert lines.feed(b"xx\nok\n" + b"y" * 50 + b"\nlast") == [b"ok"]
    assert lines.rest() == b"last"
    assert lines.dropped == 2


def refused(refusal: Refusal, path: str, what: str) -> WorkspaceRefused:
    return WorkspaceRefused(refusal, path, what)


def test_a_refusal_names_the_path_and_says_what_to_do() -> None:
    """The thread hears what was found, where, why nothing was pushed, and the next step."""
    reason, next_step = workspace_refusal(
        refused(Refusal.NESTED_REPOSITORY, "vendor/sub/.git", "a nested git repository"),
        fix.KIND.words,
    )
    assert reason == (
        "Claude's changes include a nested git repository at `vendor/sub/.git`; fixwright never "
        "reads or commits one, so nothing was pushed."
    )
    assert "`/fix <instructions>`" in next_step

    reason, next_step = workspace_refusal(
        refused(Refusal.FILE_TOO_LARGE, "data.bin", "a file over the limit of 50.0 MB"),
        fix.KIND.words,
    )
    assert reason == (
        "Claude's changes include a file over the limit of 50.0 MB at `data.bin`, so nothing "
        "was pushed."
    )
    assert "`FIXWRIGHT_WORKSPACE_MAX_FILE_BYTES`" in next_step and "`/fix`" in next_step

    reason, _ = workspace_refusal(
        refused(Refusal.SPECIAL_FILE, "pipe", "a named pipe (FIFO)"), fix.KIND.words
    )
    assert "a named pipe (FIFO) at `pipe`" in reason


def test_a_hostile_path_cannot_break_out_of_its_code_span() -> None:
    """Backticks, newlines and names that are not UTF-8 are shown inertly, and kept short."""
    assert code_path("a`b\n@team\x1b[31m") == "`a'b?@team?[31m`"
    shown = refused(Refusal.SPECIAL_FILE, "caf\udce9/pipe", "a socket").path
    assert shown == "caf\ufffd/pipe"
    assert len(code_path("x" * 5000)) < 210


def test_a_run_stopped_for_its_workspace_says_which_limit() -> None:
    """The workspace outcome names what it held and the settings an operator may raise."""
    result = RunResult(
        outcome=Outcome.WORKSPACE_LIMIT,
        final=None,
        exit_code=137,
        usage=JobUsage(),
        event_count=3,
        stderr_tail="",
        seconds=4.0,
        limit_passed="more than 20.0 MB on disk",
    )
    reason, next_step = run_failure(result, Settings(), fix.KIND.words)
    assert "grew past its limit" in reason and "more than 20.0 MB on disk" in reason
    assert "`FIXWRIGHT_WORKSPACE_MAX_BYTES`" in next_step and "`/fix`" in next_step
