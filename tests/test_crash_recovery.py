"""Nothing is lost: a SIGKILL right after the 202 leaves the job queued, and a restart runs it."""

from __future__ import annotations

import sqlite3

from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

HELP = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help")


def job_states(service: ServiceProcess) -> list[str]:
    """The jobs' states as the store on disk has them (read by a separate SQLite connection)."""
    with sqlite3.connect(service.store_path) as db:
        return [state for (state,) in db.execute("SELECT state FROM jobs")]


def help_replies(fake_github: FakeGitHub) -> list[str]:
    return [
        c.body
        for c in fake_github.state.issue_comments(REPOSITORY, 1)
        if "fixwright:help" in c.body
    ]


def test_sigkill_after_202_then_restart_runs_the_job(
    service_process: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """The delivery was durable before the 202: after SIGKILL the job waits, and the next start runs it."""
    service_process.start(FIXWRIGHT_WORKERS="0")  # an intake-only node: nothing runs the job yet
    response = service_process.post("issue_comment", HELP)
    assert response.status_code == 202
    service_process.kill()
    assert job_states(service_process) == ["queued"]
    assert help_replies(fake_github) == []

    service_process.start(FIXWRIGHT_WORKERS="1")
    wait_for(lambda: job_states(service_process) == ["succeeded"])
    assert len(help_replies(fake_github)) == 1


def test_a_job_running_when_its_worker_is_killed_is_taken_back_and_finished(
    service_process: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """A worker killed mid-job leaves a lease that expires; the next start takes the job back and runs it once."""
    fake_github.state.delay("POST", f"/repos/{REPOSITORY}/issues/1/comments", 30.0)
    service_process.start()
    service_process.post("issue_comment", HELP)
    wait_for(lambda: job_states(service_process) == ["running"])
    service_process.kill()

    fake_github.state.delays.clear()
    service_process.start()
    wait_for(lambda: job_states(service_process) == ["succeeded"], timeout=30)
    with sqlite3.connect(service_process.store_path) as db:
        (attempts,) = db.execute("SELECT attempts FROM jobs").fetchone()
    assert attempts == 2
