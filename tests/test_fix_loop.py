"""The fix loop end to end: a label on an issue becomes a draft PR, on real parts."""

from __future__ import annotations

import pytest

from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_webhook_intake import wait_for

pytestmark = pytest.mark.docker

FIX = Scenario.fix_file(
    "/workspace/hello/greet.py",
    'return "Hello " + name',
    'return f"Hello, {name}!"',
    summary="greet() now puts a comma after Hello and ends with an exclamation mark.",
)


def finished_jobs(service: ServiceProcess) -> list[dict]:
    return [line for line in service.log_lines() if line["event"] == "job.finished"]


def test_a_maintainers_label_becomes_a_draft_pull_request(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """The scripted fix lands on fixwright/issue-1 as a draft PR with the diff, 👀, progress and check run."""
    fake_model.set_scenario(FIX)
    agent_service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    [job] = wait_for(lambda: finished_jobs(agent_service), timeout=120)
    assert job["state"] == "succeeded", job
    state = fake_github.state
    files = state.branch_files(REPOSITORY, "fixwright/issue-1")
    assert 'return f"Hello, {name}!"' in files["hello/greet.py"]
    [pull] = state.pulls.values()
    assert pull.draft and pull.head == "fixwright/issue-1"
    print(state.issue_comments(REPOSITORY, 1))
