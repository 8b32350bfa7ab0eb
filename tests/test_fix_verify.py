"""A fix verified by the host in process: the tests before and after the change, repair rounds, and
what the PR, the check run and the progress comment say, with the test runs scripted.

`FakeSandbox` plays both Claude's runs and the test runs; the host's git, the copies of the
trees (with the real `check_out_copy`), the worker and the fake GitHub are real. The real
container is shown by `tests/test_verify_runner.py` and `tests/test_fix_loop_verify.py`.
"""

from __future__ import annotations

from pathlib import Path

from app.store import JobState
from sandbox.test_output import TestRun, TestStatus
from tests.fakes.github.fixtures import REPOSITORY, WEBHOOK_SECRET
from tests.fakes.github.records import CheckRun
from tests.fakes.sandbox import ScriptedRun, printed, tool, transcript_after
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.test_fix_handler import GREET, fixed_greet, the_fix
from tests.test_fix_loop import NEW_LINE, OLD_LINE, label_delivery, progress_comments

PYPROJECT = {"pyproject.toml": '[project]\nname = "hello"\n\n[tool.pytest.ini_options]\n'}
BEFORE = "F..\n==== 1 failed, 2 passed in 0.12s ====\n"
PASSING = "...\n==== 3 passed in 0.10s ====\n"
FAILING = (
    "..F\nE   AssertionError: 'Hello World' != 'Hello, World!'\n"
    "==== 1 failed, 2 passed in 0.11s ====\n"
)


def configure(engine: Engine, files: dict[str, str | None]) -> None:
    """Commit `files` to the default branch before the job starts."""
    engine.github.state.push_branch(REPOSITORY, "main", files, "Configure the repository")


async def run_fix(engine: Engine, state: JobState = JobState.SUCCEEDED) -> str:
    """Label issue #1 and run the job; the job's summary."""
    job = finished(await engine.run_delivery("issues", label_delivery(engine.github)), state)
    return job.summary


def the_pull(engine: Engine) -> tuple[str, str]:
    """The PR's title and body."""
    state = engine.github.state
    [(_, number)] = [key for key in state.pulls if key[0] == REPOSITORY]
    issue = state.issues[(REPOSITORY, number)]
    return issue.title, issue.body or ""


def the_check(engine: Engine) -> CheckRun:
    [check] = engine.github.state.check_runs.values()
    return check


def counted(engine: Engine, result: str) -> float | None:
    return engine.metrics.registry.get_sample_value(
        "fixwright_verifications_total", {"result": result}
    )


async def test_tests_that_fail_before_the_fix_and_pass_after_it_are_shown_as_passing(
    engine: Engine,
) -> None:
    """Detected from pyproject.toml; run before on the base tree and after on the fix's tree, each
    a host-made copy; the PR, the check run and the progress comment say 1 failed → 3 passed."""
    configure(engine, {**PYPROJECT, ".gitignore": "*.log\n"})
    seen: dict[str, str] = {}

    def before(copy: Path) -> TestRun:
        seen["before"] = (copy / GREET).read_text()
        return printed(BEFORE, exit_code=1)

    def after(copy: Path) -> TestRun:
        seen["after"] = (copy / GREET).read_text()
        seen["planted"] = str((copy / "planted.log").exists())
        return printed(PASSING)

    fix = the_fix(engine)
    engine.script(the_fix(engine, files={**fix.files, "planted.log": "only in the checkout\n"}))
    engine.script_tests(before, after)
    await run_fix(engine)

    assert OLD_LINE in seen["before"] and NEW_LINE in seen["after"]
    assert seen["planted"] == "False"  # ignored: in the agent's checkout, not in the tree
    before_spec, after_spec = engine.sandbox.verify_specs
    assert (before_spec.command, before_spec.tree) == (
        "python3 -m pytest -q",
        "refs/remotes/origin/main",
    )
    assert after_spec.label == "after" and after_spec.image is None
    assert before_spec.timeout_seconds == engine.settings.verify_timeout_seconds
    title, body = the_pull(engine)
    assert title == "Fix #1: greet() forgets the comma"
    assert "✅ **The tests pass after the change.** 1 failed, 2 passed → 3 passed" in body
    assert "`python3 -m pytest -q` (detected from `pyproject.toml`)" in body
    check = the_check(engine)
    assert (check.conclusion, check.output["title"]) == (
        "success",
        "Draft pull request #2: tests pass",
    )
    assert "### Verification" in str(check.output["summary"])
    [progress] = progress_comments(engine.github)
    assert (
        "- [x] Running the tests (`python3 -m pytest -q`: 1 failed, 2 passed → 3 passed)"
        in progress.body
    )
    assert counted(engine, "passed") == 1


async def test_a_repair_without_the_runs_session_is_told_the_task_again(engine: Engine) -> None:
    """A run that left no session (none written, or over the cap): the repair starts a new one,
    so its prompt carries the issue as well as the failing output."""
    configure(engine, PYPROJECT)
    engine.script(the_fix(engine, keeps_session=False), ScriptedRun(summary="Tried again."))
    engine.script_tests(
        printed(BEFORE, exit_code=1), printed(FAILING, exit_code=1), printed(FAILING, exit_code=1)
    )
    await run_fix(engine)

    _, second = engine.sandbox.specs
    assert second.resume is None and "Repair round 1 of 1." in second.prompt
    assert "greet() forgets the comma" in second.prompt and "<test-output>" in second.prompt


async def test_tests_still_failing_get_one_repair_round_and_the_pr_says_they_fail(
    engine: Engine,
) -> None:
    """The failure goes back to Claude once with the task and the output; it still fails, so the
    title is prefixed, the check run fails, and both runs' cost is the job's."""
    configure(engine, PYPROJECT)
    repair = ScriptedRun(
        summary="Tried again.",
        files={"hello/extra.py": "X = 1\n"},
        tools=(tool("Read", file_path=GREET),),
    )
    engine.script(the_fix(engine), repair)
    engine.script_tests(
        printed(BEFORE, exit_code=1), printed(FAILING, exit_code=1), printed(FAILING, exit_code=1)
    )
    await run_fix(engine)

    first, second = engine.sandbox.specs
    # The repair resumes the run's session, which holds the task: the report alone is sent.
    assert second.resume == transcript_after(first) and "Repair round 1 of 1." in second.prompt
    assert "<test-output>" in second.prompt and "AssertionError" in second.prompt
    assert [spec.label for spec in engine.sandbox.verify_specs] == ["before", "after", "after-2"]
    title, body = the_pull(engine)
    assert title == "[tests failing] Fix #1: greet() forgets the comma"
    assert "❌ **The tests still fail after the change.**" in body
    assert "**After the change and 1 repair round:** 1 failed, 2 passed" in body
    assert "```text\n" in body and "AssertionError" in body
    assert "3 turns" in body and "`hello/extra.py`" in body  # the last round's tree, its cost
    assert the_check(engine).conclusion == "failure"
    job = await engine.store.get_job(engine.sandbox.specs[0].job_id)
    assert job is not None and job.usage["output_tokens"] == 600
    assert counted(engine, "failed") == 1


async def test_a_repair_round_that_makes_the_tests_pass_is_what_is_published(
    engine: Engine,
) -> None:
    """The round's changes are read back, tested again and pushed; the PR says they pass."""
    configure(engine, PYPROJECT)
    engine.script(
        the_fix(engine, files={GREET: "broken\n"}),
        the_fix(engine, summary="Now the comma is there."),
    )
    engine.script_tests(
        printed(BEFORE, exit_code=1), printed(FAILING, exit_code=1), printed(PASSING)
    )
    await run_fix(engine)

    title, body = the_pull(engine)
    assert title == "Fix #1: greet() forgets the comma"
    assert "**After the change and 1 repair round:** 3 passed" in body
    assert "Now the comma is there." in body
    branch = engine.github.state.branch_files(REPOSITORY, "fixwright/issue-1")
    assert branch[GREET] == fixed_greet(engine)
    assert the_check(engine).conclusion == "success"


async def test_without_a_command_the_pr_says_not_verified_and_why(engine: Engine) -> None:
    """The fixture's pyproject.toml names no test runner: no test run, and the PR says so."""
    engine.script(the_fix(engine))
    await run_fix(engine)

    assert engine.sandbox.verify_specs == []
    title, body = the_pull(engine)
    assert title.startswith("Fix #1:")
    assert "⚪ **Not verified**: no test command is set and none was detected" in body
    check = the_check(engine)
    assert (check.conclusion, check.output["title"]) == (
        "success",
        "Draft pull request #2: not verified",
    )
    [progress] = progress_comments(engine.github)
    assert "- [x] ~~Running the tests~~ (not verified)" in progress.body
    assert counted(engine, "not_verified") == 1


async def test_hostile_project_files_are_read_safely_and_named_in_the_pr(engine: Engine) -> None:
    """A package.json past the size cap and a pyproject.toml nested past any parser's depth are
    left unread; the job goes on, not verified, and the PR says why."""
    huge = '{"scripts": {"test": "jest"}, "pad": "' + "x" * 300_000 + '"}'
    configure(
        engine, {"package.json": huge, "pyproject.toml": "x = " + "[" * 20_000 + "]" * 20_000}
    )
    engine.script(the_fix(engine))
    await run_fix(engine)

    assert engine.sandbox.verify_specs == []
    _, body = the_pull(engine)
    assert "⚪ **Not verified**" in body
    assert "`package.json` is over 256 KB" in body and "`pyproject.toml` could not be read" in body


async def test_the_repositorys_command_runs_and_verify_false_turns_it_off(
    make_engine: EngineFactory,
) -> None:
    """`verify.command` and `verify.timeout` reach the run; `verify: false` runs nothing."""
    engine = await make_engine(verify_timeout_seconds=120.0)
    configure(engine, {".github/fixwright.yml": "verify:\n  command: make check\n  timeout: 30\n"})
    engine.script(the_fix(engine))
    engine.script_tests(printed("ok\n"), printed("ok\n"))
    await run_fix(engine)
    spec = engine.sandbox.verify_specs[0]
    assert (spec.command, spec.timeout_seconds) == ("make check", 30.0)
    assert "(set in `.github/fixwright.yml`)" in the_pull(engine)[1]

    configure(engine, {".github/fixwright.yml": "verify: false\n", **PYPROJECT})
    engine.script(the_fix(engine))
    await run_fix(engine)
    assert len(engine.sandbox.verify_specs) == 2
    assert "verification is turned off in `.github/fixwright.yml`" in the_pull(engine)[1]


async def test_a_command_missing_before_the_change_as_well_is_not_repaired(
    engine: Engine,
) -> None:
    """Exit 127 on both trees is the environment's: no repair round, the title says the tests
    could not run, and the check run is neutral."""
    configure(engine, PYPROJECT)
    missing = "/bin/sh: 1: python3 -m pytest: not found\n"
    engine.script(the_fix(engine))
    engine.script_tests(printed(missing, exit_code=127), printed(missing, exit_code=127))
    await run_fix(engine)

    assert len(engine.sandbox.specs) == 1
    title, body = the_pull(engine)
    assert title.startswith("[tests could not run] Fix #1:")
    assert "exit code 127), before the change as well" in body
    assert the_check(engine).conclusion == "neutral"
    assert counted(engine, "error") == 1


async def test_a_timed_out_run_is_not_repaired_and_fails_the_check(engine: Engine) -> None:
    """A run stopped at its limit goes to no repair round; the PR says the tests timed out."""
    configure(engine, PYPROJECT)
    engine.script(the_fix(engine))
    engine.script_tests(
        printed(PASSING), TestRun(TestStatus.TIMED_OUT, seconds=600.0, tail="collecting ...\n")
    )
    await run_fix(engine)

    assert len(engine.sandbox.specs) == 1
    title, body = the_pull(engine)
    assert title.startswith("[tests timed out] Fix #1:") and "ran out of time" in body
    assert the_check(engine).conclusion == "failure"


async def test_the_output_is_redacted_and_link_free_everywhere_it_goes(engine: Engine) -> None:
    """A configured secret and a link printed by the tests reach neither GitHub nor Claude."""
    configure(engine, PYPROJECT)
    leaked = (
        f"E   token = {WEBHOOK_SECRET}\nE   see https://evil.test/login to fix\n"
        "==== 1 failed, 2 passed in 0.11s ====\n"
    )
    engine.script(the_fix(engine), the_fix(engine, summary="Again."))
    engine.script_tests(
        printed(BEFORE, exit_code=1), printed(leaked, exit_code=1), printed(leaked, exit_code=1)
    )
    await run_fix(engine)

    _, body = the_pull(engine)
    check = str(the_check(engine).output["summary"])
    comments = [c.body for c in engine.github.state.issue_comments(REPOSITORY, 1)]
    for text in (body, check, *comments, engine.sandbox.specs[1].prompt):
        assert WEBHOOK_SECRET not in text
    for text in (body, check):
        assert "token = [redacted]" in text
        assert "https[:]//evil.test/login" in text and "https://evil.test" not in text
