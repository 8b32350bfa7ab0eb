"""The review job in process: its decisions and failure paths, with a scripted sandbox in place of Docker.

The intake, the store, the worker, the GitHub client, host git (fetching the pull request's head
from the fake GitHub over HTTP) and the fake GitHub are real; only the container is replaced
(`tests/fakes/sandbox.py`). The real CLI reviewing in the real container is shown by
`tests/test_review.py`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.store import Job, JobState
from handlers.review.run import REVIEW_DISALLOWED, REVIEW_TOOLS
from sandbox.runner import Outcome
from tests.corpus import comment_on
from tests.fakes.github import gitrepo, pull_heads
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fakes.sandbox import ScriptedRun, tool
from tests.fixtures.inprocess import Engine, EngineFactory, finished, log_events
from tests.test_review import (
    FEATURE_FILES,
    GREET_V2,
    OFF_DIFF,
    OLD_LINE,
    UNDEFINED,
    UNTYPED,
    answer,
    open_feature_pull,
    review_comment,
)

GREET = "hello/greet.py"
WRONG_SUM = {
    "path": "hello/extra.py",
    "line": 2,
    "side": "RIGHT",
    "severity": "critical",
    "title": "add() subtracts",
    "body": "`a - b` should be `a + b`.",
    "suggestion": "    return a + b",
}


def review_run(*findings: dict[str, Any], **changes: Any) -> ScriptedRun:
    """A review run: it reads the changed file, then answers with `findings`."""
    run = ScriptedRun(
        summary=answer(*findings),
        tools=(tool("Read", file_path=f"/workspace/{GREET}"),),
        reads=(GREET,),
    )
    return replace(run, **changes)


async def request_review(
    engine: Engine, number: int, body: str = "/review", **kwargs: Any
) -> Job | None:
    """Comment `body` on pull request `number` and run the job it queues to its end."""
    payload = review_comment(engine.github.state, number, body, **kwargs)
    return await engine.run_delivery("issue_comment", payload)


def bot_comments(engine: Engine, number: int) -> list[str]:
    state = engine.github.state
    return [c.body for c in state.issue_comments(REPOSITORY, number) if c.user == state.bot_login]


def the_check(engine: Engine) -> tuple[str, str | None, str | None]:
    [check] = engine.github.state.check_runs.values()
    return check.name, check.status, check.conclusion


async def test_findings_become_one_review_with_comments_on_the_changed_lines(
    engine: Engine,
) -> None:
    """Inline comments on the right path, line, side and range; an off-diff finding and the lock file in the summary."""
    state = engine.github.state
    number = open_feature_pull(state)
    engine.script(review_run(UNDEFINED, UNTYPED, OLD_LINE, OFF_DIFF))
    job = finished(
        await request_review(engine, number, "/review look at error handling"), JobState.SUCCEEDED
    )

    assert job.summary == "4 findings, 3 new inline comments"
    [review] = state.pull_reviews(REPOSITORY, number)
    assert review.state == "COMMENTED"
    placed = [(c["path"], c["line"], c["side"], c.get("start_line")) for c in review.comments]
    assert placed == [
        (GREET, 10, "RIGHT", None),
        (GREET, 10, "RIGHT", 9),
        (GREET, 6, "LEFT", None),
    ]
    assert '```suggestion\n    return "Bye " + name\n```' in review.comments[0]["body"]
    assert "<!-- fixwright:finding " in review.comments[0]["body"]
    assert "`README.md` line 3" in review.body and "`package-lock.json`: lock file" in review.body
    assert "look at error handling" in review.body
    assert the_check(engine) == ("fixwright review", "completed", "neutral")
    assert [reaction.content for reaction in state.reactions] == ["eyes"]
    assert engine.sandbox.seen == [{GREET: GREET_V2}]  # the PR's head, not main


async def test_the_review_runs_read_only_with_read_only_tools(engine: Engine) -> None:
    """The spec mounts the checkout read-only and offers no tool that writes or runs commands."""
    number = open_feature_pull(engine.github.state)
    engine.script(review_run(UNDEFINED))
    finished(await request_review(engine, number), JobState.SUCCEEDED)

    [spec] = engine.sandbox.specs
    assert spec.read_only is True
    assert spec.allowed_tools == REVIEW_TOOLS == ("Read", "Grep", "Glob", "LS")
    for writer in ("Bash", "Write", "Edit", "MultiEdit", "NotebookEdit"):
        assert writer in spec.disallowed_tools and writer in REVIEW_DISALLOWED
    assert "<diff>" in spec.prompt and "farewell" in spec.prompt
    assert (spec.model, spec.max_turns) == ("claude-sonnet-4-5", 10)


async def test_bash_is_offered_only_for_the_commands_the_operator_allows(
    make_engine: EngineFactory,
) -> None:
    """`FIXWRIGHT_REVIEW_BASH_COMMANDS=git log,pytest` offers exactly those two commands, nothing else of Bash."""
    engine = await make_engine(review_bash_commands=("git log", "pytest"))
    number = open_feature_pull(engine.github.state)
    engine.script(review_run(UNDEFINED))
    finished(await request_review(engine, number), JobState.SUCCEEDED)

    [spec] = engine.sandbox.specs
    assert spec.read_only is True
    assert spec.allowed_tools == (*REVIEW_TOOLS, "Bash(git log:*)", "Bash(pytest:*)")
    assert "Bash" not in spec.allowed_tools and "Bash" not in spec.disallowed_tools
    assert {"Write", "Edit", "MultiEdit", "NotebookEdit"} <= set(spec.disallowed_tools)


async def test_a_second_review_after_a_new_commit_posts_only_new_findings(engine: Engine) -> None:
    """A finding already posted on an unchanged line is not repeated; the summary says what is new."""
    state = engine.github.state
    number = open_feature_pull(state)
    engine.script(review_run(UNDEFINED))
    finished(await request_review(engine, number), JobState.SUCCEEDED)
    state.push_branch(
        REPOSITORY, "feature", {"hello/extra.py": "def add(a, b):\n    return a - b\n"}
    )
    engine.script(review_run(UNDEFINED, WRONG_SUM))
    finished(await request_review(engine, number), JobState.SUCCEEDED)

    first, second = state.pull_reviews(REPOSITORY, number)
    assert [c["path"] for c in first.comments] == [GREET]
    assert [(c["path"], c["line"]) for c in second.comments] == [("hello/extra.py", 2)]
    assert "**1 new** inline comment" in second.body
    assert "1 already posted by an earlier review and not repeated" in second.body


async def test_a_malformed_answer_gets_one_retry_naming_the_problem_then_fails(
    engine: Engine,
) -> None:
    """Two answers without a findings block: the second run is told why, then the thread gets the failure."""
    number = open_feature_pull(engine.github.state)
    malformed = ScriptedRun(summary="Looks fine to me, no JSON here.")
    engine.script(malformed, malformed)
    job = finished(await request_review(engine, number), JobState.FAILED)

    first, second = engine.sandbox.specs
    problem = "could not be used: the answer does not end with a ```json block"
    assert problem not in first.prompt and problem in second.prompt
    assert "did not hold its findings in the expected form, twice" in job.summary
    [comment] = bot_comments(engine, number)
    assert "did not hold its findings in the expected form, twice" in comment
    assert "Comment `/review` to try again" in comment and f"`{job.id}`" in comment
    assert engine.github.state.pull_reviews(REPOSITORY, number) == []
    assert the_check(engine) == ("fixwright review", "completed", "neutral")


async def test_a_malformed_answer_then_a_good_one_posts_the_review(engine: Engine) -> None:
    """The retry's findings are used, and the cost line counts both runs."""
    number = open_feature_pull(engine.github.state)
    engine.script(ScriptedRun(summary='```json\n[{"path": 3}]\n```'), review_run(UNDEFINED))
    job = finished(await request_review(engine, number), JobState.SUCCEEDED)

    assert "finding 1: `path` must be" in engine.sandbox.specs[1].prompt
    [review] = engine.github.state.pull_reviews(REPOSITORY, number)
    assert [(c["path"], c["line"]) for c in review.comments] == [(GREET, 10)]
    assert job.usage["output_tokens"] == 600  # 300 for each run


async def test_a_pull_request_of_lock_and_generated_files_has_nothing_to_review(
    engine: Engine,
) -> None:
    """Only a lock file and a minified bundle changed: a review says so and lists why, and no sandbox runs."""
    state = engine.github.state
    state.push_branch(
        REPOSITORY,
        "deps",
        {"package-lock.json": '{"lockfileVersion": 3}\n', "dist/app.min.js": "var a=1;\n"},
        message="Bump dependencies",
    )
    number = state.open_pull_request(REPOSITORY, "deps", "Bump dependencies").number
    job = finished(await request_review(engine, number), JobState.SUCCEEDED)

    assert job.summary == "nothing to review"
    assert engine.sandbox.specs == []
    [review] = state.pull_reviews(REPOSITORY, number)
    assert review.comments == []
    assert "`package-lock.json`: lock file" in review.body
    assert "`dist/app.min.js`: generated or vendored file" in review.body
    [check] = state.check_runs.values()
    assert (check.conclusion, check.output["title"]) == ("neutral", "Nothing to review")


@pytest.mark.parametrize(
    ("outcome", "reason", "next_step"),
    [
        (Outcome.MAX_TURNS, "limit of 10 turns", "`/review <what to focus on>`"),
        (Outcome.TIMEOUT, "ran out of time", "Narrow the review down"),
        (Outcome.MODEL_BUDGET, "model budget was spent", "then comment `/review` to try again"),
    ],
)
async def test_a_run_that_ends_early_is_told_in_the_reviews_own_words(
    engine: Engine, outcome: Outcome, reason: str, next_step: str
) -> None:
    """Each early end names its reason and the review's next step, never the fix's; no review is posted."""
    number = open_feature_pull(engine.github.state)
    engine.script(review_run(UNDEFINED, outcome=outcome, exit_code=1))
    job = finished(await request_review(engine, number), JobState.FAILED)

    assert reason in job.summary
    [comment] = bot_comments(engine, number)
    assert reason in comment and next_step in comment
    assert "/fix" not in comment
    assert engine.github.state.pull_reviews(REPOSITORY, number) == []
    [check] = engine.github.state.check_runs.values()
    assert check.conclusion == "neutral" and reason in str(check.output["summary"])


async def test_a_stranger_is_refused_and_nothing_is_read(engine: Engine) -> None:
    """Read access is below `write`: one short reply naming what a review is, no 👀, no check run, no run."""
    state = engine.github.state
    number = open_feature_pull(state)
    state.set_permission(REPOSITORY, "reader", "read")
    job = finished(await request_review(engine, number, sender="reader"), JobState.CANCELLED)

    assert job.summary == "refused: @reader has read access; write is required"
    [reply] = [c for c in state.issue_comments(REPOSITORY, number) if c.user == state.bot_login]
    assert "@reader" in reply.body and "reviews pull requests" in reply.body
    assert "**write** access" in reply.body
    assert engine.sandbox.specs == []
    assert (state.reactions, state.reviews, state.check_runs) == ([], [], {})


async def test_bots_edited_comments_and_plain_issues_queue_no_review(engine: Engine) -> None:
    """A bot's `/review`, an edited one and one on an issue that is no pull request are ignored at intake."""
    state = engine.github.state
    number = open_feature_pull(state)
    bot = review_comment(state, number, "/review", sender="dependabot[bot]")
    bot["sender"]["type"] = "Bot"
    edited = review_comment(state, number, "/review")
    edited["action"] = "edited"
    edited["changes"] = {"body": {"from": "lgtm"}}
    on_issue = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/review")
    for payload in (bot, edited, on_issue):
        answer = await engine.deliver("issue_comment", payload)
        assert (answer.status, answer.body) == (202, {"status": "ignored"})
    assert await engine.run_all() == []
    assert state.comments.keys() == {bot["comment"]["id"], edited["comment"]["id"]}


async def test_a_fork_pull_request_is_reviewed_from_refs_pull_head(engine: Engine) -> None:
    """A fork's head is fetched through the base repository's `refs/pull/N/head`; nothing is pushed anywhere."""
    state = engine.github.state
    fork = pull_heads.fork(state, REPOSITORY, "contributor")
    state.push_branch(fork.full_name, "patch-1", FEATURE_FILES, message="Add farewell")
    number = pull_heads.open_fork_pull_request(
        state, REPOSITORY, fork.full_name, "patch-1", "Say goodbye", "From a fork."
    ).number
    engine.script(review_run(UNDEFINED))
    finished(await request_review(engine, number), JobState.SUCCEEDED)

    [review] = state.pull_reviews(REPOSITORY, number)
    assert [(c["path"], c["line"]) for c in review.comments] == [(GREET, 10)]
    assert engine.sandbox.seen == [{GREET: GREET_V2}]
    assert "(from a fork)" in engine.sandbox.specs[0].prompt
    assert state.branches(REPOSITORY) == ["main"]


async def test_a_push_after_the_job_started_changes_nothing_that_is_reviewed(
    engine: Engine,
) -> None:
    """A push right after the job read the PR: the diff, the checkout, the check run and the review name the recorded head."""
    state = engine.github.state
    number = open_feature_pull(state)
    recorded = gitrepo.branch_sha(state.repositories[REPOSITORY].path, "feature")
    late: list[str] = []

    def push_meanwhile() -> None:
        files = {GREET: GREET_V2.replace("+ nam\n", "+ name\n"), "hello/late.py": "LATE = 1\n"}
        late.append(state.push_branch(REPOSITORY, "feature", files, message="Late push"))

    state.after_answer("GET", f"/repos/{REPOSITORY}/pulls/{number}", push_meanwhile)
    engine.script(review_run(UNDEFINED, reads=(GREET, "hello/late.py")))
    job = finished(await request_review(engine, number), JobState.SUCCEEDED)

    assert late and late[0] != recorded  # the push landed while the job ran
    [review] = state.pull_reviews(REPOSITORY, number)
    assert review.commit_id == recorded and f"at `{recorded[:7]}`" in review.body
    assert [(c["path"], c["line"]) for c in review.comments] == [(GREET, 10)]
    assert "late.py" not in engine.sandbox.specs[0].prompt
    assert engine.sandbox.seen == [{GREET: GREET_V2, "hello/late.py": None}]
    [check] = state.check_runs.values()
    assert check.head_sha == recorded
    events = await engine.store.events(job.id)
    assert [e.data["head_sha"] for e in events if e.kind == "review.commit"] == [recorded]


async def test_a_review_goes_on_when_its_comment_was_deleted_before_the_reaction(
    engine: Engine, logged: list[dict[str, Any]]
) -> None:
    """GitHub answers 404 to the 👀 on a deleted `/review`; the review is posted anyway and the log says why."""
    state = engine.github.state
    number = open_feature_pull(state)
    payload = review_comment(state, number, "/review")
    del state.comments[payload["comment"]["id"]]  # deleted before the job runs
    engine.script(review_run(UNDEFINED))
    finished(await engine.run_delivery("issue_comment", payload), JobState.SUCCEEDED)

    [review] = state.pull_reviews(REPOSITORY, number)
    assert [(c["path"], c["line"]) for c in review.comments] == [(GREET, 10)]
    assert state.reactions == []
    [skipped] = log_events(logged, "reaction.skipped")
    assert skipped["status"] == 404 and "no longer exists" in skipped["reason"]
