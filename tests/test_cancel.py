"""Stopping work: uninstalling the App or removing repositories cancels jobs; `/cancel` stops a running one."""

from __future__ import annotations

import contextlib
import sqlite3

import docker
import pytest

from app.config import Settings
from sandbox.container import INSTANCE_LABEL
from tests.corpus import aimed_at, comment_on, example, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for


def job_rows(service: ServiceProcess) -> list[tuple[str, str, str]]:
    with sqlite3.connect(service.store_path) as db:
        return db.execute("SELECT kind, state, summary FROM jobs ORDER BY created_at").fetchall()


def lifecycle(event: str, action: str, **extra: object) -> dict:
    payload = aimed_at(
        example(event, action), repository=REPOSITORY, installation_id=INSTALLATION_ID
    )
    payload.update(extra)
    return payload


def test_uninstalling_the_app_cancels_its_queued_jobs(service_process: ServiceProcess) -> None:
    """installation.deleted: the queued fix job is cancelled with the reason, in the same delivery."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    service_process.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    response = service_process.post("installation", lifecycle("installation", "deleted"))
    assert response.status_code == 202 and response.json() == {"status": "recorded"}
    assert job_rows(service_process) == [("fix", "cancelled", "cancelled: the App was uninstalled")]


def test_removing_a_repository_cancels_only_its_jobs(service_process: ServiceProcess) -> None:
    """installation_repositories.removed cancels jobs of the removed repository and no other."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    service_process.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    service_process.post("issues", labeled_issue("octo-org/other", INSTALLATION_ID, 2))
    removed = lifecycle(
        "installation_repositories",
        "removed",
        repositories_removed=[{"id": 1, "name": "hello", "full_name": REPOSITORY}],
    )
    assert service_process.post("installation_repositories", removed).json() == {
        "status": "recorded"
    }
    assert [(kind, state) for kind, state, _ in job_rows(service_process)] == [
        ("fix", "cancelled"),
        ("fix", "queued"),
    ]


@pytest.mark.docker
def test_cancel_stops_a_running_fix_and_says_who(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model,
    docker_client: docker.DockerClient,
) -> None:
    """`/cancel` by a maintainer: the container is gone, the job is cancelled, the thread names who."""
    fake_model.set_scenario(
        Scenario([Scenario.run("tail -f /dev/null", "Wait"), Scenario.say("done")])
    )
    # Nothing but the cancel ends the step before the deadlines below: `tail -f` never exits,
    # the CLI's own Bash timeout is two minutes, and the sandbox's is raised to ten.
    agent_service = agent_service_process.start(
        FIXWRIGHT_WORKERS="2", FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS="600"
    )
    agent_service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))

    instance = Settings(store_url=agent_service.env["FIXWRIGHT_STORE_URL"]).instance_id()

    def sandbox_containers() -> list:
        labels = [f"{INSTANCE_LABEL}={instance}"]
        return docker_client.containers.list(all=True, sparse=True, filters={"label": labels})

    def running_the_step() -> bool:
        """The scripted Bash step runs inside the sandbox container."""
        for container in sandbox_containers():
            with contextlib.suppress(docker.errors.APIError):  # not running (yet, or any more)
                if any("tail -f /dev/null" in " ".join(p) for p in container.top()["Processes"]):
                    return True
        return False

    wait_for(running_the_step, timeout=60)
    agent_service.post("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/cancel"))
    notice = wait_for(
        lambda: [
            c
            for c in fake_github.state.issue_comments(REPOSITORY, 1)
            if "Cancelled by @octocat" in c.body
        ],
        timeout=30,
    )
    assert len(notice) == 1
    assert sandbox_containers() == []
    rows = wait_for(
        lambda: (
            [r for r in job_rows(agent_service) if r[0] == "cancel" and r[1] == "succeeded"]
            and job_rows(agent_service)
        )
    )
    kinds = {kind: (state, summary) for kind, state, summary in rows}
    assert kinds["fix"] == ("cancelled", "cancelled by @octocat")
    assert fake_model.tool_results == []  # the step was stopped, it never returned
