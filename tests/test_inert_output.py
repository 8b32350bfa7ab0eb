"""Claude's words reach GitHub inert: no mention or closing keyword from a review or a fix commit.

Claude read text anyone could write, so its review (summary and inline comments) and the fix's
commit message may repeat `@someone` (a notification to a stranger) or `Fixes #12` (which closes
issue 12 once the commit reaches the default branch). End to end, on the real CLI and sandbox.
"""

from __future__ import annotations

import pytest

from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import BRANCH, NEW_LINE, OLD_LINE, bare_path, label_delivery, wait_for_jobs
from tests.test_review import (
    UNDEFINED,
    one_review,
    open_feature_pull,
    request_review,
    review_scenario,
)

pytestmark = pytest.mark.docker

LOUD = ("@admin", "Fixes #1", "closes #2", "resolves octo-org/hello#3")
SUGGESTION = '    return "Bye " + name  # @admin may keep this'


def assert_inert(text: str) -> None:
    for phrase in LOUD:
        assert phrase not in text, f"{phrase!r} reached GitHub as it is"


def test_a_review_repeats_no_mention_and_no_closing_keyword(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """Every inline comment and the summary are defanged; the committable suggestion is left exactly as Claude wrote it."""
    state = fake_github.state
    number = open_feature_pull(state)
    inline = {
        **UNDEFINED,
        "title": "Fixes #1: farewell() breaks, cc @admin",
        "body": "closes #2 and resolves octo-org/hello#3; @admin should know.",
        "suggestion": SUGGESTION,
    }
    outside = {**inline, "path": "README.md", "line": 3, "suggestion": None}
    fake_model.set_scenario(review_scenario(inline, outside))
    job = request_review(agent_service, state, number, "/review ask @admin")
    assert job["state"] == "succeeded", job
    review = one_review(state, number)
    assert_inert(review.body)
    [comment] = review.comments
    fence = f"```suggestion\n{SUGGESTION}\n```"
    assert fence in comment["body"]
    assert_inert(comment["body"].replace(fence, ""))
    assert "farewell() breaks" in comment["body"] and "farewell() breaks" in review.body


def test_a_fix_commit_message_closes_only_its_own_issue(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """The commit message keeps its own `Fix #1` and defangs the issue title and Claude's summary."""
    state = fake_github.state
    state.issues[(REPOSITORY, 1)].title = "greet() forgets the comma, closes #2 cc @admin"
    summary = "Added the comma. Fixes #1 and closes #2 too; resolves octo-org/hello#3, @admin."
    fake_model.set_scenario(
        Scenario.fix_file("/workspace/hello/greet.py", OLD_LINE, NEW_LINE, summary=summary)
    )
    assert agent_service.post("issues", label_delivery(fake_github)).status_code == 202
    [job] = wait_for_jobs(agent_service)
    assert job["state"] == "succeeded", job
    message = gitrepo.commit_message(bare_path(fake_github), f"refs/heads/{BRANCH}")
    assert message.startswith("Fix #1: greet() forgets the comma")
    assert_inert(message.removeprefix("Fix #1"))
    assert "Added the comma." in message
