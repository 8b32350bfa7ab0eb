"""The fix job when there is no pull request to open: each ending is explained in the thread.

In process, on the scripted sandbox; the runner's reading of the real CLI's endings (turns,
timeout, the container removed) is shown on the real engine by `tests/test_sandbox_run.py` and
`tests/test_sandbox_limits.py`.
"""

from __future__ import annotations

from app.store import JobState
from sandbox.runner import Outcome
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import BRANCH, bare_path, label_delivery, progress_comments


def assert_failed_in_thread(fake_github: FakeGitHub, *words: str) -> str:
    """One comment (the progress comment) says why in `words`; the check run failed; no PR."""
    state = fake_github.state
    [comment] = state.issue_comments(REPOSITORY, 1)
    assert progress_comments(fake_github) == [comment]
    body = comment.body
    assert "could not finish" in body and "(stopped here)" in body, body
    assert "**What to do next:**" in body and "check the logs" not in body.lower()
    for word in words:
        assert word in body, body
    [check] = state.check_runs.values()
    assert (check.status, check.conclusion) == ("completed", "failure")
    assert words[0] in str(check.output["summary"])
    assert state.pulls == {}
    return body


async def run_fix(engine: Engine, state: JobState) -> None:
    """Label issue 1 and run its job, which ends in `state`."""
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), state)


async def test_an_answer_without_changes_is_shown_and_opens_no_pull_request(
    engine: Engine,
) -> None:
    """Claude reads the code and says it is not a bug: its answer is shown, the check is neutral."""
    answer = "This is not a bug: greet() is documented to omit the comma. Please confirm."
    engine.script(the_fix(engine, summary=answer, files={}))
    await run_fix(engine, JobState.SUCCEEDED)

    [comment] = engine.github.state.issue_comments(REPOSITORY, 1)
    assert "changed nothing" in comment.body and answer in comment.body
    assert "no pull request" in comment.body and "(nothing to push)" in comment.body
    [check] = engine.github.state.check_runs.values()
    assert (check.status, check.conclusion) == ("completed", "neutral")
    assert answer in str(check.output["summary"])
    assert engine.github.state.pulls == {}
    assert BRANCH not in engine.github.state.branches(REPOSITORY)


async def test_reaching_max_turns_is_explained(make_engine: EngineFactory) -> None:
    """With a limit of one turn the fix cannot finish, and the thread names the limit."""
    engine = await make_engine(max_turns=1)
    engine.script(the_fix(engine, outcome=Outcome.MAX_TURNS, exit_code=1))
    await run_fix(engine, JobState.FAILED)

    assert_failed_in_thread(engine.github, "reached its limit of 1 turn ", "smaller steps")
    assert BRANCH not in engine.github.state.branches(REPOSITORY)


async def test_a_run_that_outlasts_the_timeout_is_explained(make_engine: EngineFactory) -> None:
    """A run cut off at the wall-clock limit names the limit, its variable, and the step it stopped at."""
    engine = await make_engine(sandbox_timeout_seconds=5)
    engine.script(the_fix(engine, outcome=Outcome.TIMEOUT, exit_code=137))
    await run_fix(engine, JobState.FAILED)

    body = assert_failed_in_thread(
        engine.github,
        "ran out of time",
        "limited to 5 seconds",
        "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS",
    )
    assert "❌ **Claude is working" in body
    assert BRANCH not in engine.github.state.branches(REPOSITORY)


async def test_a_rejected_push_is_explained(engine: Engine) -> None:
    """A push refused by branch protection names GitHub's reason and how to let the App push."""
    hook = bare_path(engine.github) / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'error: GH006: Protected branch update failed for "
        f"refs/heads/{BRANCH}.' >&2\nexit 1\n"
    )
    hook.chmod(0o755)
    engine.script(the_fix(engine))
    await run_fix(engine, JobState.FAILED)

    body = assert_failed_in_thread(
        engine.github, "GitHub rejected the push", "GH006: Protected branch update failed"
    )
    assert "❌ **Pushing the changes** (stopped here)" in body
    assert "ghs_" not in body
    assert BRANCH not in engine.github.state.branches(REPOSITORY)
