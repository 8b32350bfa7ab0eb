"""Graceful shutdown: SIGTERM refuses new deliveries with 503, lets the running job finish or puts it back, exits 0."""

from __future__ import annotations

import signal
import sqlite3

import pytest

from tests.corpus import example, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

SLOW_FIX = Scenario(
    [
        Scenario.run("python3 -c 'import time; time.sleep(4)'", "Run the slow tests"),
        Scenario.edit_file(
            "/workspace/hello/greet.py", 'return "Hello " + name', 'return f"Hello, {name}!"'
        ),
        Scenario.say("Fixed the greeting."),
    ]
)


def jobs(service: ServiceProcess) -> list[tuple[str, int]]:
    with sqlite3.connect(service.store_path) as db:
        return db.execute("SELECT state, attempts FROM jobs").fetchall()


def refusing_deliveries(service: ServiceProcess) -> bool:
    """True once the service answers 503: a ping asks for nothing, so probing records nothing."""
    return service.post("ping", example("ping")).status_code == 503


def handled_the_first_signal(service: ServiceProcess) -> bool:
    return any(line.get("event") == "service.stopping" for line in service.log_lines())


def start_slow_job(service: ServiceProcess, fake_model) -> None:
    fake_model.set_scenario(SLOW_FIX)
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    wait_for(lambda: len(fake_model.tool_results) == 0 and fake_model.requests, timeout=60)


def test_sigterm_mid_run_refuses_deliveries_and_lets_the_job_finish(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model,
) -> None:
    """During the grace period a new delivery gets 503; the job completes its PR; the exit code is 0."""
    service = agent_service_process.start(FIXWRIGHT_SHUTDOWN_GRACE_SECONDS="60")
    start_slow_job(service, fake_model)
    service.process.send_signal(signal.SIGTERM)
    wait_for(lambda: refusing_deliveries(service))
    refused = service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 2))
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "shutting_down"
    assert service.process.wait(90) == 0
    assert jobs(service) == [("succeeded", 1)]
    assert len(fake_github.state.pulls) == 1


def test_a_job_outliving_the_grace_period_is_put_back_and_finished_after_restart(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model,
) -> None:
    """With a short grace the job goes back to the queue (no attempt lost); the next start opens one PR."""
    service = agent_service_process.start(FIXWRIGHT_SHUTDOWN_GRACE_SECONDS="0.5")
    start_slow_job(service, fake_model)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(90) == 0
    assert jobs(service) == [("queued", 0)]
    assert fake_github.state.pulls == {}

    service.start()
    wait_for(lambda: jobs(service) == [("succeeded", 1)], timeout=120)
    assert len(fake_github.state.pulls) == 1


def test_a_second_signal_exits_at_once(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model,
) -> None:
    """SIGTERM then SIGINT: the service exits without letting the running job finish; after a
    restart the job runs once more."""
    service = agent_service_process.start(FIXWRIGHT_SHUTDOWN_GRACE_SECONDS="120")
    start_slow_job(service, fake_model)
    service.process.send_signal(signal.SIGTERM)
    wait_for(lambda: handled_the_first_signal(service))
    service.process.send_signal(signal.SIGINT)
    service.process.wait(30)
    # Cut short: the running job did not get to finish, as it would have within the grace.
    assert jobs(service)[0][0] != "succeeded"
    assert fake_github.state.pulls == {}

    service.start()  # the job was put back (or its lease ends): it runs again, once
    wait_for(lambda: jobs(service)[0][0] == "succeeded", timeout=120)
    assert len(fake_github.state.pulls) == 1
