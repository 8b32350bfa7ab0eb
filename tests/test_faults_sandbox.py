"""A fork bomb, a memory hog and an endless loop in three jobs at once: each ends, with its reason.

One scenario serves all three conversations; the command picks its misbehaviour from the work
branch checked out in /workspace, so each issue's job runs a different one.
"""

from __future__ import annotations

from typing import Any

import docker
import pytest

from app.failure import FAILURE_MARKER
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import label_delivery, progress_comments, sandbox_containers, wait_for_jobs

pytestmark = pytest.mark.docker

MISBEHAVE = """case "$(cat /workspace/.git/HEAD)" in
  *issue-1) timeout -s KILL 10 bash -c ':(){ :|:& };:' 2>/dev/null; echo contained ;;
  *issue-2) head -c 4000m /dev/zero | tail > /dev/null ;;
  *) tail -f /dev/null ;;
esac"""
SCENARIO = Scenario([Scenario.run(MISBEHAVE, "Run the tests"), Scenario.say("Done.")])
LIMITS = {
    "FIXWRIGHT_WORKERS": "3",
    "FIXWRIGHT_QUOTA_CONCURRENT_JOBS": "0",
    "FIXWRIGHT_SANDBOX_MEMORY": "512m",
    "FIXWRIGHT_SANDBOX_PIDS": "128",
    "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS": "45",
}


def final_word(fake_github: FakeGitHub, number: int) -> str:
    """The job's progress comment on issue `number` (it carries the outcome)."""
    [comment] = progress_comments(fake_github, number)
    return comment.body


def test_three_misbehaving_jobs_each_end_with_their_reason_while_intake_answers(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: docker.DockerClient,
) -> None:
    """Memory hog → out of memory, endless loop → timeout, fork bomb → pids limit; intake still queues."""
    for title in ("The tests hang", "The tests loop"):
        fake_github.state.add_issue(REPOSITORY, title, "See CI.", user=MAINTAINER)
    fake_model.set_scenario(SCENARIO)
    service = agent_service_process.start(**LIMITS)

    job_ids = [
        service.post("issues", label_delivery(fake_github, number)).json()["jobs"][0]
        for number in (1, 2, 3)
    ]
    during = service.post("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help"))
    jobs = {job["job_id"]: job for job in wait_for_jobs(service, 4)}

    assert during.status_code == 202 and during.json()["status"] == "queued"
    bomb, hog, loop = (jobs[job_id] for job_id in job_ids)
    assert (hog["state"], loop["state"]) == ("failed", "failed"), (hog, loop)
    assert "ran out of memory" in final_word(fake_github, 2)
    assert "limit is 512m" in final_word(fake_github, 2)
    assert "ran out of time" in final_word(fake_github, 3)
    # The bomb is contained by the pids limit. Which reason its run ends with depends on what the
    # host saw before the CLI itself could fork no more (on a loaded machine, not always the
    # refused forks): tests/test_sandbox_limits.py checks the pids reason on its own. Here it
    # must end, be told in words, and leave nothing behind.
    assert bomb["state"] in ("failed", "succeeded"), bomb
    if bomb["state"] == "failed":
        assert "**Why:**" in final_word(fake_github, 1)
    assert all(sandbox_containers(docker_client, job_id) == [] for job_id in job_ids)
    assert fake_github.state.pulls == {}
    assert not any(
        c.body.startswith(FAILURE_MARKER) for c in fake_github.state.issue_comments(REPOSITORY, 2)
    )
