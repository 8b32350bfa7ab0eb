"""The sandbox's limits hold on the real engine, and no container outlives its run."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from sandbox.container import INSTANCE_LABEL, JOB_LABEL, ROLE, ROLE_LABEL
from sandbox.orphans import remove_orphans
from sandbox.runner import Outcome
from sandbox.stream import ToolUse
from tests.fakes.model.scenario import Scenario

pytestmark = pytest.mark.docker


def containers_of(client: docker.DockerClient, job_id: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{JOB_LABEL}={job_id}"})


async def test_a_fork_bomb_stops_at_the_pids_limit(
    fake_model, run_sandbox, sandbox_settings, docker_client
):
    """A fork bomb fills the pids limit and never exceeds it; the run ends and leaves nothing."""
    limit = 160
    settings = replace(sandbox_settings, sandbox_pids=limit)
    bomb = "timeout -s KILL 20 bash -c ':(){ :|:& };:' 2>/dev/null; echo contained"
    fake_model.set_scenario(Scenario([Scenario.run(bomb), Scenario.say("The bomb was contained.")]))
    peak = PidsPeak(docker_client, "fixwright-job-bomb-job")

    def on_event(event: object) -> None:
        if isinstance(event, ToolUse):
            peak.start()

    run = await run_sandbox(settings=settings, job_id="bomb-job", on_event=on_event)
    peak.stop()

    assert peak.refused > 0  # forks were refused at the limit
    assert peak.highest <= limit
    # The CLI needs threads too: it may survive the bomb or die of it, but it never hangs.
    assert run.result.outcome is Outcome.PIDS_LIMIT
    assert containers_of(docker_client, "bomb-job") == []


class PidsPeak:
    """Watches a container's pids cgroup from the host: the highest count and the refused forks."""

    def __init__(self, client: docker.DockerClient, name: str) -> None:
        self.client = client
        self.name = name
        self.highest = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _cgroup(self) -> Path | None:
        container_id = self.client.containers.get(self.name).id
        candidates = (
            f"/sys/fs/cgroup/pids/docker/{container_id}",  # cgroup v1, cgroupfs driver
            f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope",  # v2, systemd driver
            f"/sys/fs/cgroup/docker/{container_id}",  # v2, cgroupfs driver
        )
        return next((Path(c) for c in candidates if Path(c, "pids.events").exists()), None)

    def _watch(self) -> None:
        cgroup = self._cgroup()
        assert cgroup is not None, "the container's pids cgroup was not found"
        while not self._stop.is_set():
            try:
                current = int((cgroup / "pids.current").read_text())
                events = (cgroup / "pids.events").read_text().split()
            except (OSError, ValueError):
                return  # the container is gone, and its cgroup with it
            self.highest = max(self.highest, current)
            self.refused = max(self.refused, int(events[events.index("max") + 1]))
            self._stop.wait(0.002)


async def test_a_memory_hog_ends_as_out_of_memory(
    fake_model, run_sandbox, sandbox_settings, docker_client
):
    """A command that eats memory past the limit gets the run reported as out_of_memory."""
    settings = replace(sandbox_settings, sandbox_memory="640m")
    fake_model.set_scenario(
        Scenario([Scenario.run("head -c 4000m /dev/zero | tail > /dev/null"), Scenario.say("x")])
    )
    run = await run_sandbox(settings=settings, job_id="hog-job")

    assert run.result.outcome is Outcome.OUT_OF_MEMORY
    assert containers_of(docker_client, "hog-job") == []


async def test_a_sleeping_command_ends_as_timeout(fake_model, run_sandbox, docker_client):
    """A run that outlives its wall-clock limit is killed, reported as timeout, and removed."""
    fake_model.set_scenario(
        Scenario([Scenario.run("tail -f /dev/null; echo woke"), Scenario.say("never")])
    )
    run = await run_sandbox(timeout_seconds=6, job_id="sleep-job")

    assert run.result.outcome is Outcome.TIMEOUT
    assert any(
        isinstance(e, ToolUse) and e.input["command"].startswith("tail -f") for e in run.events
    )
    assert containers_of(docker_client, "sleep-job") == []


async def test_cancelling_a_run_removes_its_container(fake_model, run_sandbox, docker_client):
    """Cancelling the task mid-run (as /cancel does) leaves no container behind."""
    fake_model.set_scenario(
        Scenario([Scenario.run("tail -f /dev/null; echo woke"), Scenario.say("never")])
    )
    sleeping = asyncio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, ToolUse):
            sleeping.set()

    task = asyncio.create_task(run_sandbox(on_event=on_event, job_id="cancel-job"))
    await asyncio.wait_for(sleeping.wait(), timeout=60)
    assert len(containers_of(docker_client, "cancel-job")) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert containers_of(docker_client, "cancel-job") == []


def test_remove_orphans_spares_running_jobs(docker_client, sandbox_image):
    """Start-up clean-up removes its own containers of dead jobs; live jobs and other deployments keep theirs."""
    ours = {ROLE_LABEL: ROLE, INSTANCE_LABEL: "this-deployment"}
    created = [
        docker_client.containers.create(sandbox_image, ["true"], labels={JOB_LABEL: job_id, **ours})
        for job_id in ("orphan-1", "live-1")
    ]
    stranger = docker_client.containers.create(sandbox_image, ["true"], labels={JOB_LABEL: "x"})
    neighbour = docker_client.containers.create(
        sandbox_image,
        ["true"],
        labels={JOB_LABEL: "theirs", ROLE_LABEL: ROLE, INSTANCE_LABEL: "another-deployment"},
    )
    created.append(neighbour)
    try:
        removed = remove_orphans(docker_client, {"live-1"}, "this-deployment")

        assert "orphan-1" in removed
        assert "live-1" not in removed
        assert containers_of(docker_client, "orphan-1") == []
        assert len(containers_of(docker_client, "live-1")) == 1
        stranger.reload()  # not ours (no role label): untouched
        neighbour.reload()  # another deployment's: untouched
    finally:
        for container in [*created, stranger]:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
