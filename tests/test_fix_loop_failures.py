"""The fix loop when there is no pull request to open: each ending is explained in the thread."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import (
    BRANCH,
    FIX,
    bare_path,
    label_delivery,
    progress_comments,
    sandbox_containers,
    wait_for_jobs,
)

pytestmark = pytest.mark.docker


def run_one_job(service: ServiceProcess, fake_github: FakeGitHub) -> tuple[dict[str, Any], str]:
    """Label issue 1, wait for the job, and return its log line and its job id."""
    [job_id] = service.post("issues", label_delivery(fake_github)).json()["jobs"]
    [job] = wait_for_jobs(service)
    return job, job_id


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


def test_an_answer_without_changes_is_shown_and_opens_no_pull_request(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """Claude reads the code and says it is not a bug: its answer is shown, the check is neutral."""
    answer = "This is not a bug: greet() is documented to omit the comma. Please confirm."
    fake_model.set_scenario(
        Scenario([Scenario.read("/workspace/hello/greet.py"), Scenario.say(answer)])
    )
    job, _ = run_one_job(agent_service, fake_github)

    assert job["state"] == "succeeded" and job["summary"] == "no change", job
    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    assert "changed nothing" in comment.body and answer in comment.body
    assert "no pull request" in comment.body and "(nothing to push)" in comment.body
    [check] = fake_github.state.check_runs.values()
    assert (check.status, check.conclusion) == ("completed", "neutral")
    assert answer in str(check.output["summary"])
    assert fake_github.state.pulls == {}
    assert BRANCH not in fake_github.state.branches(REPOSITORY)


def test_reaching_max_turns_is_explained(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """With a limit of one turn the fix cannot finish, and the thread names the limit."""
    fake_model.set_scenario(FIX)
    service = agent_service_process.start(FIXWRIGHT_MAX_TURNS="1")
    job, _ = run_one_job(service, fake_github)

    assert job["state"] == "failed", job
    assert_failed_in_thread(fake_github, "reached its limit of 1 turn ", "smaller steps")
    assert BRANCH not in fake_github.state.branches(REPOSITORY)


def test_a_run_that_outlasts_the_timeout_is_stopped_and_explained(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: docker.DockerClient,
) -> None:
    """A command that never ends is cut off at the wall-clock limit; its container is gone."""
    fake_model.set_scenario(Scenario([Scenario.run("tail -f /dev/null", "Follow the log")]))
    service = agent_service_process.start(FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS="5")
    job, job_id = run_one_job(service, fake_github)

    assert job["state"] == "failed", job
    body = assert_failed_in_thread(
        fake_github, "ran out of time", "limited to 5 seconds", "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS"
    )
    assert "❌ **Claude is working" in body
    assert sandbox_containers(docker_client, job_id) == []


def test_a_rejected_push_is_explained(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """A push refused by branch protection names GitHub's reason and how to let the App push."""
    hook = bare_path(fake_github) / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'error: GH006: Protected branch update failed for "
        f"refs/heads/{BRANCH}.' >&2\nexit 1\n"
    )
    hook.chmod(0o755)
    fake_model.set_scenario(FIX)
    job, _ = run_one_job(agent_service, fake_github)

    assert job["state"] == "failed", job
    body = assert_failed_in_thread(
        fake_github, "GitHub rejected the push", "GH006: Protected branch update failed"
    )
    assert "❌ **Pushing the changes** (stopped here)" in body
    assert "ghs_" not in body
    assert BRANCH not in fake_github.state.branches(REPOSITORY)
