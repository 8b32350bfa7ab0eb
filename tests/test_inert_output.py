"""Claude's words reach GitHub inert: no mention or closing keyword from a review or a fix commit.

Claude read text anyone could write, so its review (summary and inline comments) and the fix's
commit message may repeat `@someone` (a notification to a stranger) or `Fixes #12` (which closes
issue 12 once the commit reaches the default branch). In process, on the scripted sandbox: what
Claude says is the run's answer, and everything after it is the service's own code.
"""

from __future__ import annotations

from app.store import JobState
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import REPOSITORY
from tests.fixtures.inprocess import Engine, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import BRANCH, bare_path, label_delivery
from tests.test_review import UNDEFINED, open_feature_pull
from tests.test_review_handler import request_review, review_run

LOUD = ("@admin", "Fixes #1", "closes #2", "resolves octo-org/hello#3")
SUGGESTION = '    return "Bye " + name  # @admin may keep this'


def assert_inert(text: str) -> None:
    for phrase in LOUD:
        assert phrase not in text, f"{phrase!r} reached GitHub as it is"


async def test_a_review_repeats_no_mention_and_no_closing_keyword(engine: Engine) -> None:
    """Every inline comment and the summary are defanged; the committable suggestion is left exactly as Claude wrote it."""
    state = engine.github.state
    number = open_feature_pull(state)
    inline = {
        **UNDEFINED,
        "title": "Fixes #1: farewell() breaks, cc @admin",
        "body": "closes #2 and resolves octo-org/hello#3; @admin should know.",
        "suggestion": SUGGESTION,
    }
    outside = {**inline, "path": "README.md", "line": 3, "suggestion": None}
    engine.script(review_run(inline, outside))
    finished(await request_review(engine, number, "/review ask @admin"), JobState.SUCCEEDED)

    [review] = state.pull_reviews(REPOSITORY, number)
    assert_inert(review.body)
    [comment] = review.comments
    fence = f"```suggestion\n{SUGGESTION}\n```"
    assert fence in comment["body"]
    assert_inert(comment["body"].replace(fence, ""))
    assert "farewell() breaks" in comment["body"] and "farewell() breaks" in review.body


async def test_a_fix_commit_message_closes_only_its_own_issue(engine: Engine) -> None:
    """The commit message keeps its own `Fix #1` and defangs the issue title and Claude's summary."""
    state = engine.github.state
    state.issues[(REPOSITORY, 1)].title = "greet() forgets the comma, closes #2 cc @admin"
    summary = "Added the comma. Fixes #1 and closes #2 too; resolves octo-org/hello#3, @admin."
    engine.script(the_fix(engine, summary=summary))
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED)

    message = gitrepo.commit_message(bare_path(engine.github), f"refs/heads/{BRANCH}")
    assert message.startswith("Fix #1: greet() forgets the comma")
    assert_inert(message.removeprefix("Fix #1"))
    assert "Added the comma." in message
