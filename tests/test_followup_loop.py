"""A follow-up end to end: the label's fix, then a comment on a line of its pull request, on real
parts (the service on a real port, the real CLI in the real sandbox, git over HTTP). The second run
resumes the first session: the scripted model receives the earlier turns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.corpus import review_submitted
from tests.fakes.github import gitrepo, pull_heads
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.github.records import Review
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import (
    BRANCH,
    FIX,
    NEW_LINE,
    SUMMARY,
    bare_path,
    label_delivery,
    progress_comments,
    wait_for_jobs,
)
from tests.test_review import review_comment

pytestmark = pytest.mark.docker

GREET = "/workspace/hello/greet.py"
EMPTY_NAME = "return f\"Hello, {name or 'nobody'}!\""
SECOND_SUMMARY = "greet() now says hello to nobody when the name is empty."
# One conversation over two runs: the fix's three turns, then the follow-up's two. Answer N is
# chosen by the assistant turns already in the request, so the follow-up reaches the edit only
# when its request carries the first run's turns.
CONVERSATION = Scenario(
    [*FIX.steps, Scenario.edit_file(GREET, NEW_LINE, EMPTY_NAME), Scenario.say(SECOND_SUMMARY)]
)


def line_comment_review(fake_github: FakeGitHub, number: int, body: str) -> dict[str, Any]:
    """A review with one comment on line 6 of hello/greet.py, held by the fake and delivered."""
    state = fake_github.state
    pull = state.pulls[(REPOSITORY, number)]
    review = Review(
        id=state.next_id(),
        repository=REPOSITORY,
        pull_number=number,
        user="octocat",
        body="",
        state="COMMENTED",
        commit_id=gitrepo.branch_sha(bare_path(fake_github), pull.head) or "",
        comments=[{"path": "hello/greet.py", "line": 6, "side": "RIGHT", "body": body}],
    )
    state.reviews.append(review)
    payload = review_submitted(REPOSITORY, INSTALLATION_ID, number, "", state="commented")
    payload["review"]["id"] = review.id
    payload["pull_request"]["head"]["ref"] = pull.head
    payload["pull_request"]["head"]["repo"]["full_name"] = REPOSITORY
    return payload


def messages_text(request: Any) -> str:
    """Every text the request's messages carry (its conversation so far)."""
    texts = []
    for message in request.body["messages"]:
        content = message["content"]
        blocks = [content] if isinstance(content, str) else content
        for block in blocks:
            if isinstance(block, str):
                texts.append(block)
            elif isinstance(block, dict):
                texts.append(str(block.get("text") or block.get("input") or ""))
    return "\n".join(texts)


def test_a_line_comment_continues_the_session_with_a_second_commit(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    fake_model.set_scenario(CONVERSATION)
    state = fake_github.state
    agent_service.post("issues", label_delivery(fake_github))
    [fixed] = wait_for_jobs(agent_service)
    assert fixed["state"] == "succeeded", fixed
    [pull] = state.pulls.values()
    first_head = gitrepo.branch_sha(bare_path(fake_github), BRANCH)
    turns_before = len(fake_model.api.scenario_requests)

    response = agent_service.post(
        "pull_request_review", line_comment_review(fake_github, pull.number, "Handle no name.")
    )
    assert response.status_code == 202, response.text
    _, followed = wait_for_jobs(agent_service, 2)
    assert followed["state"] == "succeeded", followed

    resumed = fake_model.api.scenario_requests[turns_before]
    seen = messages_text(resumed)
    assert SUMMARY in seen and "Handle no name." in seen  # the first run's turns, then the ask
    files = state.branch_files(REPOSITORY, BRANCH)
    assert EMPTY_NAME in files["hello/greet.py"]
    second_head = gitrepo.branch_sha(bare_path(fake_github), BRANCH)
    assert second_head != first_head
    assert gitrepo.rev_parse(bare_path(fake_github), f"{second_head}~1") == first_head
    [reply] = state.review_replies
    assert reply.body == f"Addressed in {second_head[:12]}."
    body = state.issues[(REPOSITORY, pull.number)].body or ""
    assert "## Rounds" in body and first_head[:12] in body and second_head[:12] in body
    assert SECOND_SUMMARY in body
    [on_pull] = progress_comments(fake_github, pull.number)
    assert "pushed a new commit" in on_pull.body
    pushes = [(e["actor"], e["detail"]) for e in audited(agent_service) if e["action"] == "push"]
    assert pushes == [
        ("octocat", f"{REPOSITORY}#1: pushed {BRANCH} at {first_head}"),
        ("octocat", f"{REPOSITORY}#{pull.number}: pushed {BRANCH} at {second_head}"),
    ]


def test_fix_on_a_fork_or_a_pull_request_fixwright_did_not_open_is_refused_once(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    fake_model.set_scenario(CONVERSATION)
    state = fake_github.state
    state.push_branch(REPOSITORY, "feature", {"hello/extra.py": "X = 1\n"})
    own = state.open_pull_request(REPOSITORY, "feature", "A maintainer's change")
    fork = pull_heads.fork(state, REPOSITORY, "contributor")
    state.push_branch(fork.full_name, "patch-1", {"hello/extra.py": "X = 2\n"})
    forked = pull_heads.open_fork_pull_request(
        state, REPOSITORY, fork.full_name, "patch-1", "From a fork"
    )
    heads = {name: gitrepo.branch_sha(bare_path(fake_github), name) for name in ("feature", "main")}

    for number in (own.number, forked.number):
        response = agent_service.post("issue_comment", review_comment(state, number, "/fix it"))
        assert response.status_code == 202, response.text
    jobs = wait_for_jobs(agent_service, 2)

    assert [job["summary"].split(":")[0] for job in jobs] == ["refused", "refused"], jobs
    assert "only revises pull requests it opened" in only_comment(fake_github, own.number)
    assert "never pushes to a fork" in only_comment(fake_github, forked.number)
    assert fake_model.api.scenario_requests == []  # nothing ran
    assert state.branches(REPOSITORY) == ["feature", "main"]
    assert {n: gitrepo.branch_sha(bare_path(fake_github), n) for n in heads} == heads
    refused = [e["detail"] for e in audited(agent_service) if e["action"] == "trigger.refused"]
    assert len(refused) == 2 and all(e.startswith(f"{REPOSITORY}#") for e in refused)
    assert not [e for e in audited(agent_service) if e["action"] == "push"]


def audited(service: ServiceProcess) -> list[dict[str, Any]]:
    """`fixwright audit --json`: the trail's entries, oldest first."""
    done = service.command("audit", "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def only_comment(fake_github: FakeGitHub, number: int) -> str:
    """The one comment of fixwright's on PR `number`."""
    state = fake_github.state
    [comment] = [c for c in state.issue_comments(REPOSITORY, number) if c.user == state.bot_login]
    return comment.body
