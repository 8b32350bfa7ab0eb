"""A question end to end, on real parts: `fixwright serve` learns its slug from GitHub at start,
takes `@fixwright <question>` on an issue, runs the real CLI read-only in the sandbox image
against the scripted model, and answers in a comment; no branch, no pull request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.corpus import comment_on
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY, FakeGitHub
from tests.fakes.github.records import Comment
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import bare_path, prompt_of, wait_for_jobs

pytestmark = pytest.mark.docker

ANSWER = "greet() joins `Hello` and the name with a space and no comma (`hello/greet.py:6`)."
QUESTION = "@fixwright why does greet() forget the comma?"


def test_a_question_on_an_issue_gets_an_answer_comment(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """The real CLI reads the file, the answer is posted by the App; nothing is pushed."""
    fake_model.set_scenario(
        Scenario([Scenario.read("/workspace/hello/greet.py"), Scenario.say(ANSWER)])
    )
    state = fake_github.state
    main = gitrepo.branch_sha(bare_path(fake_github), "main")
    payload = comment_on(REPOSITORY, INSTALLATION_ID, 1, QUESTION)
    comment = Comment(state.next_id(), REPOSITORY, 1, QUESTION, state.user(MAINTAINER).login)
    state.comments[comment.id] = comment
    payload["comment"]["id"] = comment.id

    response = agent_service.post("issue_comment", payload)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    [job] = wait_for_jobs(agent_service)

    assert job["state"] == "succeeded", job
    learned = [line for line in agent_service.log_lines() if line["event"] == "service.app_slug"]
    assert [line["slug"] for line in learned] == ["fixwright"]
    [answer] = [c.body for c in state.issue_comments(REPOSITORY, 1) if c.user == state.bot_login]
    assert ANSWER in answer and "No change was made" in answer
    assert main is not None and f"Read at `{main[:12]}` (the head of `main`)" in answer
    assert "why does greet() forget the comma?" in prompt_of(fake_model)
    assert state.branches(REPOSITORY) == ["main"]
    assert gitrepo.branch_sha(bare_path(fake_github), "main") == main
    assert state.pulls == {}
    assert [(r.subject, r.content) for r in state.reactions] == [("comment", "eyes")]
