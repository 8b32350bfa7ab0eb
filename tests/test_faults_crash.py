"""kill -9 at three points of a fix job: after the 202, mid-run, and after the push before the PR.

Whatever point the service dies at, the next start processes the delivery exactly once: the job
is not lost, and there is one job, one pull request, one progress comment and one check run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import docker
import pytest

from handlers.common.progress import job_of_comment
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import (
    BRANCH,
    FIX,
    JOB_TIMEOUT,
    label_delivery,
    progress_comments,
    sandbox_containers,
    wait_for_jobs,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

PULLS = f"/repos/{REPOSITORY}/pulls"
SLOW_FIX = Scenario([Scenario.run("sleep 4", "Wait for the build"), *FIX.steps])


def stored_jobs(service: ServiceProcess) -> list[tuple[str, str, int]]:
    """(kind, state, attempts) of every job in the store on disk."""
    with sqlite3.connect(service.store_path) as db:
        return db.execute("SELECT kind, state, attempts FROM jobs ORDER BY created_at").fetchall()


def kill_after_the_202(service: ServiceProcess, *_: Any) -> None:
    """The delivery is recorded and acknowledged; nothing has run yet."""
    assert stored_jobs(service) == [("fix", "queued", 0)]
    service.kill()


def kill_mid_run(
    service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: Any,
    job_id: str,
) -> None:
    """Claude is at work in its container."""
    wait_for(lambda: fake_model.api.scenario_requests, JOB_TIMEOUT)
    wait_for(lambda: sandbox_containers(docker_client, job_id))
    service.kill()


def kill_after_the_push(service: ServiceProcess, fake_github: FakeGitHub, *_: Any) -> None:
    """The branch is pushed and the PR creation is on its way to GitHub, unanswered."""
    arrived = lambda: [p for m, p, _ in fake_github.state.arrivals if (m, p) == ("POST", PULLS)]  # noqa: E731
    wait_for(arrived, JOB_TIMEOUT)
    assert BRANCH in fake_github.state.branches(REPOSITORY)
    service.kill()
    fake_github.state.delays.clear()


KILL_POINTS: dict[str, Callable[..., None]] = {
    "after the 202": kill_after_the_202,
    "mid-run": kill_mid_run,
    "after the push, before the PR": kill_after_the_push,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_kill_at_any_point_processes_the_delivery_exactly_once(
    point: str,
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: docker.DockerClient,
) -> None:
    """SIGKILL at this point, restart: one job, one PR, one progress comment, one check run, no container."""
    fake_model.set_scenario(SLOW_FIX)
    if point == "after the push, before the PR":
        fake_github.state.delay("POST", PULLS, 60.0)
    workers = "0" if point == "after the 202" else "1"
    service = agent_service_process.start(FIXWRIGHT_WORKERS=workers)
    payload = label_delivery(fake_github)
    response = service.post("issues", payload, delivery_id="delivery-1")
    assert response.status_code == 202
    [job_id] = response.json()["jobs"]
    KILL_POINTS[point](service, fake_github, fake_model, docker_client, job_id)

    service.start(FIXWRIGHT_WORKERS="1")
    [job] = wait_for_jobs(service)
    again = service.post("issues", payload, delivery_id="delivery-1")

    assert job["state"] == "succeeded", job
    assert again.json()["status"] == "duplicate"
    [(kind, state, _)] = stored_jobs(service)
    assert (kind, state) == ("fix", "succeeded")
    assert len(fake_github.state.pulls) == 1
    [comment] = progress_comments(fake_github)
    assert job_of_comment(comment.body) == job_id and "opened a draft pull request" in comment.body
    assert len(fake_github.state.check_runs) == 1
    assert len(fake_github.state.reactions) == 1
    assert sandbox_containers(docker_client, job_id) == []
