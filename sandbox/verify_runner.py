"""Run a repository's test command once, in a fresh hardened container on a host-made copy of a
tree, and say how it ended; neither the container nor the copy outlives the call."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import structlog
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.utils.socket import frames_iter
from structlog.typing import FilteringBoundLogger

from sandbox.container import SandboxLimits, engine_id, remove_container, remove_leftover
from sandbox.git_copy import check_out_copy
from sandbox.git_errors import GitError
from sandbox.test_output import OutputReader, TestRun, TestStatus
from sandbox.verify_container import VerifySpec, run_name, verify_container_kwargs
from sandbox.workspace_watch import DiskWatch

log: FilteringBoundLogger = structlog.get_logger("fixwright.sandbox")

# After the command ends (or is killed), how long the output may take to drain.
DRAIN_SECONDS = 10.0


@dataclass(frozen=True)
class _Ended:
    exit_code: int | None
    oom_killed: bool


class _Output:
    """The reader shared by the thread that reads the stream and the loop that reports it."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._reader = OutputReader(secrets=secrets)
        self._lock = threading.Lock()

    def read_from(self, attached: Any) -> None:
        """Read the container's stdout and stderr until they end (or the socket is closed)."""
        with contextlib.suppress(OSError, ValueError):
            for stream, data in frames_iter(attached, tty=False):
                with self._lock:
                    self._reader.feed(stream, data)

    def run(self, status: TestStatus, **ended: Any) -> TestRun:
        with self._lock:
            return self._reader.run(status, **ended)


async def run_verification(
    spec: VerifySpec,
    limits: SandboxLimits,
    *,
    docker_client: docker.DockerClient,
    secrets: tuple[str, ...] = (),
) -> TestRun:
    """The test command on a copy of `spec.tree`, in a container with no network and the
    sandbox's limits; a failure to run it at all is a run with status ERROR, never an exception."""
    started = time.monotonic()
    copy = spec.scratch / f"verify-{run_name(spec.label)}"
    output = _Output(secrets)
    container: Container | None = None
    try:
        try:
            await asyncio.to_thread(check_out_copy, spec.git_dir, spec.tree, copy)
        except (GitError, OSError) as error:
            return _error(output, started, f"the tree could not be copied for the tests: {error}")
        kwargs = verify_container_kwargs(spec, limits, copy)
        try:
            container = await _fresh_container(docker_client, kwargs)
            return await _follow(docker_client, container, spec, limits, copy, output, started)
        except ImageNotFound:
            return _error(output, started, f"the image `{kwargs['image']}` is not on this engine")
        except DockerException as error:
            log.warning("verify.docker_failed", job_id=spec.job_id, error=repr(error))
            return _error(output, started, "Docker could not run the tests")
    finally:
        if container is not None:
            await asyncio.to_thread(remove_container, container)
        await asyncio.to_thread(shutil.rmtree, copy, True)


def _error(output: _Output, started: float, problem: str) -> TestRun:
    return output.run(
        TestStatus.ERROR, exit_code=None, seconds=time.monotonic() - started, problem=problem
    )


async def _fresh_container(client: docker.DockerClient, kwargs: dict[str, Any]) -> Container:
    """The run's container, created; one an earlier attempt of the job left under its name goes."""
    await asyncio.to_thread(remove_leftover, client, kwargs["name"])
    return await asyncio.to_thread(client.containers.create, **kwargs)


async def _follow(
    client: docker.DockerClient,
    container: Container,
    spec: VerifySpec,
    limits: SandboxLimits,
    copy: Path,
    output: _Output,
    started: float,
) -> TestRun:
    """Start the container, read its output until it ends, its time runs out or its copy grows
    past the workspace's limits."""
    attached = await asyncio.to_thread(
        client.api.attach_socket,
        engine_id(container),
        params={"stdout": 1, "stderr": 1, "stream": 1},
    )
    # The client's own timeout would end a read while a quiet test runs: the deadline is ours.
    with contextlib.suppress(OSError):
        getattr(attached, "_sock", attached).settimeout(None)
    loop = asyncio.get_running_loop()
    reading = loop.run_in_executor(None, output.read_from, attached)
    disk = DiskWatch(
        copy,
        max_bytes=limits.workspace_max_bytes,
        max_entries=limits.workspace_max_files,
        stop=lambda: _kill(container),
    )
    timed_out = False
    watching: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(container.start)
        watching = asyncio.create_task(disk.run())
        try:
            await asyncio.wait_for(asyncio.shield(reading), timeout=spec.timeout_seconds)
        except TimeoutError:
            timed_out = True
            await asyncio.to_thread(_kill, container)
        ended = await asyncio.to_thread(_wait_for_exit, container)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reading), timeout=DRAIN_SECONDS)
    finally:
        if watching is not None:
            watching.cancel()
            await asyncio.wait([watching])
        with contextlib.suppress(OSError):
            attached.close()
    status, problem = _status(ended, timed_out, disk.passed, limits)
    return output.run(
        status, exit_code=ended.exit_code, seconds=time.monotonic() - started, problem=problem
    )


def _status(
    ended: _Ended, timed_out: bool, disk_passed: str | None, limits: SandboxLimits
) -> tuple[TestStatus, str]:
    """How the run ended, and the problem in words when it could not run to its end."""
    if timed_out:
        return TestStatus.TIMED_OUT, "the time limit was reached"
    if disk_passed is not None:
        return TestStatus.ERROR, f"the tests' files grew past the limit ({disk_passed})"
    if ended.oom_killed:
        return TestStatus.ERROR, f"the tests ran out of memory ({limits.memory})"
    if ended.exit_code == 0:
        return TestStatus.PASSED, ""
    return TestStatus.FAILED, ""


def _kill(container: Container) -> None:
    with contextlib.suppress(NotFound, APIError):
        container.kill()


def _wait_for_exit(container: Container) -> _Ended:
    """The container's exit code and whether the kernel killed anything in it for memory."""
    try:
        status = container.wait(timeout=DRAIN_SECONDS)
        container.reload()
    except (NotFound, APIError, OSError):
        return _Ended(exit_code=None, oom_killed=False)
    state = container.attrs.get("State", {})
    return _Ended(
        exit_code=status.get("StatusCode", state.get("ExitCode")),
        oom_killed=bool(state.get("OOMKilled")),
    )
