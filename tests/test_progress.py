"""The sticky progress comment: what the checklist shows, and one comment per job, edited in place."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from githubkit import GitHub

from app.github_app import GitHubApp
from handlers.common.ci_files import CiReason, CiTouch
from handlers.common.progress import (
    MARKER_PATTERN,
    ProgressComment,
    ProgressState,
    Step,
    job_of_comment,
    marker,
    render_progress,
)
from handlers.common.run_stats import RunStats
from sandbox.usage import JobUsage
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.github.records import Comment
from tests.waiting import wait_until

JOB = "job-7f3a"
PERMISSIONS = {"issues": "write", "pull_requests": "write", "contents": "write"}
STATS = RunStats(
    model="claude-sonnet-4-5",
    turns=4,
    usage=JobUsage(input_tokens=1200, output_tokens=340, cache_read_input_tokens=5000),
    cost_usd=0.0213,
    seconds=75,
)


def lines_of(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("- [")]


class Clock:
    """A clock the test moves by hand, so throttling is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def github(fake_github: FakeGitHub) -> AsyncIterator[GitHub]:
    """An installation client for the fake's repository, as a fix job gets it."""
    async with GitHubApp(fake_github.settings()).for_job(
        INSTALLATION_ID, REPOSITORY, PERMISSIONS
    ) as client:
        yield client


# rendering


def test_the_comment_starts_with_the_jobs_hidden_marker() -> None:
    """The first line is the HTML-comment marker naming the job, which is how it is found again."""
    body = render_progress(ProgressState(job_id=JOB))
    assert body.splitlines()[0] == "<!-- fixwright:progress job=job-7f3a -->"
    assert job_of_comment(body) == JOB
    assert job_of_comment("Thanks, looks good!") is None


def test_a_queued_job_shows_the_whole_checklist_with_queued_current() -> None:
    """A new job lists all six steps, the first marked as the one in progress."""
    checklist = lines_of(render_progress(ProgressState(job_id=JOB)))
    assert checklist == [
        "- [ ] ⏳ **Queued**",
        "- [ ] Preparing the workspace",
        "- [ ] Claude is working",
        "- [ ] Running the tests",
        "- [ ] Pushing the changes",
        "- [ ] Done",
    ]


def test_while_claude_works_the_turn_count_and_last_action_show() -> None:
    """Earlier steps are ticked and the working step shows the turn, the limit and the last action."""
    state = ProgressState(job_id=JOB, max_turns=30).at(Step.PREPARING).working(3, "Bash pytest -q")
    checklist = lines_of(render_progress(state))
    assert checklist[:2] == ["- [x] Queued", "- [x] Preparing the workspace"]
    assert checklist[2] == "- [ ] ⏳ **Claude is working (turn 3 of 30; last: `Bash pytest -q`)**"
    assert checklist[3:] == ["- [ ] Running the tests", "- [ ] Pushing the changes", "- [ ] Done"]


def test_a_later_update_without_an_action_keeps_the_last_one() -> None:
    """An update that only bumps the turn keeps showing what Claude did last."""
    state = ProgressState(job_id=JOB).working(1, "Read hello/greet.py").working(2)
    assert "turn 2; last: `Read hello/greet.py`" in render_progress(state)


def test_an_action_with_backticks_cannot_break_out_of_its_code_span() -> None:
    """Backticks and newlines in a command are fenced, so the comment's Markdown stays intact."""
    state = ProgressState(job_id=JOB).working(1, "echo `id`\n<!-- fixwright:progress job=x -->")
    body = render_progress(state)
    assert "``echo `id` <!-- fixwright:progress job=x -->``" in body
    assert next(m.group("job_id") for m in MARKER_PATTERN.finditer(body)) == JOB


def test_a_long_action_is_cut_short() -> None:
    """A very long command shows as one short line ending in an ellipsis."""
    state = ProgressState(job_id=JOB).working(1, "python -c " + "x" * 500)
    working = lines_of(render_progress(state))[2]
    assert "…" in working and len(working) < 200


def test_a_pull_request_ending_links_the_pr_with_the_summary_and_stats() -> None:
    """When the fix is pushed, every step is ticked and the PR, the summary and the cost are shown."""
    state = (
        ProgressState(job_id=JOB)
        .working(4, "Edit hello/greet.py")
        .opened("http://github.test/octo-org/hello/pull/2", 2, "Added the missing comma.", STATS)
    )
    body = render_progress(state)
    assert all(line.startswith("- [x]") for line in lines_of(body))
    assert "**Draft pull request:** [#2](http://github.test/octo-org/hello/pull/2)" in body
    assert "Added the missing comma." in body
    assert "`claude-sonnet-4-5` · 4 turns" in body
    assert "$0.0213" in body and "1 min 15 s" in body
    assert "last:" not in body  # the last action is stale once the job is over


def test_a_pull_request_that_touches_what_ci_executes_says_so_beside_the_link() -> None:
    """The finished comment warns, right under the PR link, which changed files CI runs."""
    touch = CiTouch("scripts/check.sh", CiReason.RUN_STEP, ".github/workflows/ci.yml")
    state = ProgressState(job_id=JOB).opened("http://x/pull/2", 2, "Done.", STATS, (touch,))
    body = render_progress(state)
    link = body.index("**Draft pull request:**")
    assert link < body.index("**This change touches files that CI executes.**")
    assert "`scripts/check.sh`: named by a `run:` step in `.github/workflows/ci.yml`" in body
    plain = render_progress(ProgressState(job_id=JOB).opened("http://x/pull/2", 2, "Done."))
    assert "CI executes" not in plain


def test_a_run_that_changed_nothing_shows_claudes_answer_and_says_so() -> None:
    """No change: the comment says there is no PR, shows Claude's answer, and how to retry."""
    state = (
        ProgressState(job_id=JOB).working(2).unchanged("This is not a bug: see the docs.", STATS)
    )
    body = render_progress(state)
    assert "changed nothing" in body
    assert "no pull request" in body
    assert "This is not a bug: see the docs." in body
    assert "- [x] ~~Running the tests~~ (nothing to test)" in lines_of(body)
    assert "- [x] ~~Pushing the changes~~ (nothing to push)" in lines_of(body)
    assert "`/fix`" in body


def test_a_failure_names_the_step_the_reason_and_the_next_step() -> None:
    """A failed job marks where it stopped, strikes the rest, and says why and what to do."""
    state = (
        ProgressState(job_id=JOB)
        .working(30)
        .failed(
            "Claude Code reached its limit of 30 turns before finishing.",
            "Split the issue into smaller steps.",
        )
    )
    body = render_progress(state)
    checklist = lines_of(body)
    assert checklist[2].startswith("- [ ] ❌ **Claude is working (turn 30)")
    assert checklist[3:] == [
        "- [ ] ~~Running the tests~~",
        "- [ ] ~~Pushing the changes~~",
        "- [ ] ~~Done~~",
    ]
    assert "**Why:** Claude Code reached its limit of 30 turns" in body
    assert "**What to do next:** Split the issue into smaller steps." in body
    assert "could not finish" in body
    assert "log" not in body.lower()


def test_a_huge_answer_is_cut_to_fit_a_github_comment() -> None:
    """An answer longer than GitHub allows is shortened so the comment can still be posted."""
    body = render_progress(ProgressState(job_id=JOB).unchanged("word " * 30_000))
    assert len(body) < 65_536
    assert "cut short" in body


# the comment on GitHub


async def test_open_posts_one_comment_with_the_marker(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """Opening the progress of a new job posts exactly one comment that carries its marker."""
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB)
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    assert comment.id == progress.comment_id
    assert comment.body.startswith(marker(JOB))
    assert "⏳ **Queued**" in comment.body


async def test_opening_again_for_the_same_job_edits_the_existing_comment(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """A retried job finds its comment by the marker and edits it rather than posting another."""
    first = await ProgressComment.open(github, REPOSITORY, 1, JOB)
    again = await ProgressComment.open(
        github, REPOSITORY, 1, JOB, ProgressState(job_id=JOB).at(Step.PREPARING)
    )
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    assert again.comment_id == first.comment_id == comment.id
    assert "⏳ **Preparing the workspace**" in comment.body


async def test_another_jobs_comment_is_not_reused(fake_github: FakeGitHub, github: GitHub) -> None:
    """A different job on the same issue gets its own comment; the first one is left as it was."""
    await ProgressComment.open(github, REPOSITORY, 1, JOB)
    await ProgressComment.open(github, REPOSITORY, 1, "job-other")
    bodies = [c.body for c in fake_github.state.issue_comments(REPOSITORY, 1)]
    assert [job_of_comment(b) for b in bodies] == [JOB, "job-other"]


async def test_the_marker_is_found_beyond_the_first_page(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """On a busy issue, the job's comment is found even when it is on the third page of comments."""
    state = fake_github.state
    for index in range(230):
        comment = Comment(state.next_id(), REPOSITORY, 1, f"comment {index}", "octocat")
        state.comments[comment.id] = comment
    body = render_progress(ProgressState(JOB))
    existing = Comment(state.next_id(), REPOSITORY, 1, body, state.bot_login)
    state.comments[existing.id] = existing
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB)
    assert progress.comment_id == existing.id
    assert len(state.issue_comments(REPOSITORY, 1)) == 231


async def test_a_users_comment_quoting_the_marker_is_not_taken_for_the_jobs(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """A comment by a person that carries the job's marker is ignored; the bot posts its own."""
    state = fake_github.state
    forged = Comment(state.next_id(), REPOSITORY, 1, marker(JOB) + "\nhello", "octocat")
    state.comments[forged.id] = forged
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB)
    assert progress.comment_id != forged.id
    assert forged.body == marker(JOB) + "\nhello"
    assert len(state.issue_comments(REPOSITORY, 1)) == 2


def test_a_marker_quoted_inside_a_message_does_not_make_a_progress_comment() -> None:
    """Only a marker at the very start counts, so text quoting one elsewhere is not mistaken."""
    assert job_of_comment(f"See this:\n{marker(JOB)}") is None


async def test_updates_are_throttled_but_the_final_one_always_goes_out(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """Updates inside the interval are held back; a due update shows the latest, a final one always goes out."""
    clock = Clock()
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB, interval=3, clock=clock)
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)

    clock.now += 1
    assert not await progress.update(progress.state.working(1, "Read a.py"))
    assert "⏳ **Queued**" in comment.body
    clock.now += 3
    assert await progress.update(progress.state.working(2, "Read b.py"))
    assert "turn 2" in comment.body
    clock.now += 0.5
    assert await progress.update(progress.state.failed("the sandbox ran out of memory."))
    assert "**Why:** the sandbox ran out of memory." in comment.body
    edits = [r for r in fake_github.state.requests if r.method == "PATCH"]
    assert len(edits) == 2


async def test_a_held_back_update_is_shown_once_the_interval_has_passed(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """A turn update held back by the throttle still reaches the comment without another update."""
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB, interval=0.3)
    assert not await progress.update(progress.state.working(5, "Bash pytest"))
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    await wait_until(lambda: "turn 5" in comment.body)
    await progress.close()


async def test_a_failed_edit_is_logged_and_does_not_fail_the_job(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """GitHub refusing an edit makes update return False; the next update shows the latest state."""
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB)
    path = f"/repos/{REPOSITORY}/issues/comments/{progress.comment_id}"
    fake_github.state.fail_next("PATCH", path, status=403)
    assert not await progress.update(progress.state.at(Step.PREPARING), force=True)
    assert await progress.update(progress.state.working(1, "Bash ls"), force=True)
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    assert "turn 1" in comment.body


async def test_a_comment_that_could_not_be_posted_is_posted_by_a_later_update(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """When posting fails at open, the next update posts the comment, still only one."""
    fake_github.state.fail_next("POST", f"/repos/{REPOSITORY}/issues/1/comments", status=403)
    progress = await ProgressComment.open(github, REPOSITORY, 1, JOB)
    assert progress.comment_id is None
    assert fake_github.state.issue_comments(REPOSITORY, 1) == []
    assert await progress.update(progress.state.at(Step.PREPARING), force=True)
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    assert "⏳ **Preparing the workspace**" in comment.body
