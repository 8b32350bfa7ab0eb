"""Run one task in the sandbox: start the container, stream its events, and say how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import docker
import structlog
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from structlog.typing import FilteringBoundLogger

from sandbox.container import (
    AGENT_UID,
    WORKSPACE,
    RunSpec,
    SandboxLimits,
    container_kwargs,
    engine_id,
    remove_container,
    remove_leftover,
)
from sandbox.container_stream import END, ContainerStream, Queued
from sandbox.pids import PidsWatch
from sandbox.relay_budget import PoolShare
from sandbox.session import (
    STATE_MAX_ENTRIES,
    SessionState,
    Transcript,
    TranscriptRefused,
    make_state_directory,
    new_session_id,
    put_back,
    state_disk_limit,
    take_out,
)
from sandbox.stream import FinalResult, StreamEvent, Unknown
from sandbox.usage import JobUsage
from sandbox.workspace_watch import DiskWatch

log: FilteringBoundLogger = structlog.get_logger("fixwright.sandbox")

# After a kill, how long to wait for the output stream to end before removing the container anyway.
DRAIN_SECONDS = 10.0

EventCallback = Callable[[StreamEvent], Awaitable[None] | None]


class Outcome(StrEnum):
    """How a run ended; each one calls for a different message to the user."""

    SUCCESS = "success"
    MAX_TURNS = "max_turns"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    MODEL_AUTHENTICATION = "model_authentication"
    MODEL_OVERLOADED = "model_overloaded"
    MODEL_BUDGET = "model_budget"
    MODEL_ERROR = "model_error"
    PIDS_LIMIT = "pids_limit"
    WORKSPACE_LIMIT = "workspace_limit"
    CLI_CRASH = "cli_crash"


class Relay(Protocol):
    """What the runner needs of the model relay (sandbox.relay.ModelRelay or RelayThread)."""

    socket_path: Path

    def open_job(
        self,
        job_id: str,
        *,
        token_budget: int,
        api_key: str | None = None,
        model: str = "",
        max_tokens: int = ...,
        pool: PoolShare | None = None,
    ) -> str: ...

    def close_job(self, job_id: str) -> JobUsage: ...


@dataclass(frozen=True)
class RunResult:
    """How the run ended, with what the CLI reported and what the relay counted."""

    outcome: Outcome
    final: FinalResult | None
    exit_code: int | None
    usage: JobUsage
    event_count: int
    stderr_tail: str
    seconds: float
    # Which limit the runner stopped the run for, in words ("more than 10.0 MB on disk").
    limit_passed: str = ""
    # The run's session, taken out after it ended (capped, redacted), for a follow-up to resume.
    transcript: Transcript | None = None

    @property
    def num_turns(self) -> int:
        return self.final.num_turns if self.final else 0

    @property
    def total_cost_usd(self) -> float:
        return self.final.total_cost_usd if self.final else 0.0

    @property
    def summary(self) -> str:
        """The CLI's closing text (its answer, or its error message)."""
        return self.final.result if self.final and self.final.result else ""


@dataclass(frozen=True)
class _Exit:
    """What the container's end looked like, read from the engine."""

    exit_code: int | None
    oom_killed: bool


def classify(
    final: FinalResult | None,
    *,
    stopped: Outcome | None,
    oom_killed: bool,
    exit_code: int | None,
    budget_exhausted: bool,
    refused_forks: int = 0,
) -> Outcome:
    """Name the way a run ended, from the most to the least specific evidence.

    `stopped` is why the runner killed the container itself (timeout, a key the model refuses).
    """
    if stopped is not None:
        return stopped
    if oom_killed:
        return Outcome.OUT_OF_MEMORY
    if refused_forks:
        # Something forked until the limit refused it: what Claude saw next was a broken machine.
        return Outcome.PIDS_LIMIT
    if final is None:
        return Outcome.MODEL_BUDGET if budget_exhausted else Outcome.CLI_CRASH
    if final.subtype == "error_max_turns":
        return Outcome.MAX_TURNS
    if final.subtype == "success" and not final.is_error and exit_code in (0, None):
        return Outcome.SUCCESS
    if budget_exhausted:
        return Outcome.MODEL_BUDGET
    return _model_error(final.api_error_status, final.result or "")


def reason_to_stop(event: StreamEvent) -> Outcome | None:
    """An event after which waiting is pointless: the CLI retries a refused key for minutes."""
    if not isinstance(event, Unknown):
        return None
    raw = event.raw
    is_retry = raw.get("type") == "system" and raw.get("subtype") == "api_retry"
    if is_retry and raw.get("error_status") in (401, 403):
        return Outcome.MODEL_AUTHENTICATION
    return None


def _model_error(status: int | None, message: str) -> Outcome:
    """Tell the model API's failures apart by the HTTP status, else by what the CLI reported."""
    text = message.lower()
    if "token budget" in text:
        return Outcome.MODEL_BUDGET
    if status in (401, 403):
        return Outcome.MODEL_AUTHENTICATION
    if status == 529:
        return Outcome.MODEL_OVERLOADED
    if any(s in text for s in ("authentication", "api key", "x-api-key", "401", "login")):
        return Outcome.MODEL_AUTHENTICATION
    if any(s in text for s in ("overloaded", "529")):
        return Outcome.MODEL_OVERLOADED
    return Outcome.MODEL_ERROR


@dataclass(frozen=True)
class _Followed:
    """What following a run showed: its final event, how many events, why it was stopped."""

    final: FinalResult | None
    event_count: int
    stopped: Outcome | None
    refused_forks: int
    limit_passed: str


async def run_in_sandbox(
    spec: RunSpec,
    limits: SandboxLimits,
    *,
    docker_client: docker.DockerClient,
    relay: Relay,
    on_event: EventCallback | None = None,
    api_key: str | None = None,
    token_budget: int | None = None,
    pool: PoolShare | None = None,
    secrets: tuple[str, ...] = (),
) -> RunResult:
    """Run the CLI on `spec` in a fresh hardened container; the container never outlives the call.

    `pool` is a budget the run shares with others running at once (its installation's day).
    The CLI's state lives in a host directory of the run's own, with `spec.resume` put back in it
    first; the session is taken out after the run, with `secrets` (and the key) redacted from it.
    """
    state = await asyncio.to_thread(open_session, spec)
    try:
        return await _run(
            spec,
            limits,
            state,
            docker_client=docker_client,
            relay=relay,
            on_event=on_event,
            api_key=api_key,
            token_budget=token_budget,
            pool=pool,
            secrets=secrets,
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, state.directory, ignore_errors=True)


def open_session(spec: RunSpec) -> SessionState:
    """The run's state directory beside its workspace (never inside it), with the session to
    resume put back; a new session gets an id the host chose."""
    directory = make_state_directory(spec.workspace.parent, AGENT_UID)
    if spec.resume is None:
        return SessionState(directory, new_session_id())
    try:
        put_back(directory, spec.resume, cwd=WORKSPACE, owner=AGENT_UID)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return SessionState(directory, spec.resume.session_id)


def _take_out(
    state: SessionState, limits: SandboxLimits, secrets: tuple[str, ...], job_id: str
) -> Transcript | None:
    """The run's session, or None (with a warning saying why, when the run left one)."""
    try:
        transcript, left_out = take_out(
            state, cwd=WORKSPACE, max_bytes=limits.transcript_max_bytes, secrets=secrets
        )
    except TranscriptRefused as refused:
        log.warning("sandbox.transcript_dropped", job_id=job_id, reason=str(refused))
        return None
    except OSError as error:
        log.warning("sandbox.transcript_unreadable", job_id=job_id, error=error.strerror)
        return None
    if left_out:
        log.warning("sandbox.transcript_lines_left_out", job_id=job_id, lines=left_out)
    return transcript


async def _run(
    spec: RunSpec,
    limits: SandboxLimits,
    state: SessionState,
    *,
    docker_client: docker.DockerClient,
    relay: Relay,
    on_event: EventCallback | None,
    api_key: str | None,
    token_budget: int | None,
    pool: PoolShare | None,
    secrets: tuple[str, ...],
) -> RunResult:
    """The run itself, in the state directory the caller made and removes."""
    started = time.monotonic()
    budget = token_budget or limits.token_budget
    # The relay holds the run to the model and the output per request the CLI is told to use.
    capability = relay.open_job(
        spec.job_id,
        token_budget=budget,
        api_key=api_key,
        model=spec.model or limits.model,
        max_tokens=limits.max_output_tokens,
        pool=pool,
    )
    kwargs = container_kwargs(
        spec, limits, relay_socket=Path(relay.socket_path), capability=capability, session=state
    )
    container: Container | None = None
    stream: ContainerStream | None = None
    usage: JobUsage | None = None
    try:
        container = await _fresh_container(docker_client, kwargs, spec.job_id)
        pids = PidsWatch(engine_id(container))
        stream = ContainerStream(
            docker_client,
            container,
            spec.prompt,
            on_output=pids.sample,
            max_line_bytes=limits.max_line_bytes,
        )
        followed = await _watch(stream, pids, spec, limits, state, on_event)
        ended = await asyncio.to_thread(_wait_for_exit, container)
        usage = relay.close_job(spec.job_id)
        keys = (*secrets, *((api_key,) if api_key else ()), capability)
        transcript = await asyncio.to_thread(_take_out, state, limits, keys, spec.job_id)
        outcome = classify(
            followed.final,
            stopped=followed.stopped,
            oom_killed=ended.oom_killed,
            exit_code=ended.exit_code,
            budget_exhausted=usage.budgeted >= budget,
            refused_forks=followed.refused_forks,
        )
        return RunResult(
            outcome=outcome,
            final=followed.final,
            exit_code=ended.exit_code,
            usage=usage,
            event_count=followed.event_count,
            stderr_tail=stream.stderr_tail(),
            seconds=time.monotonic() - started,
            limit_passed=followed.limit_passed,
            transcript=transcript,
        )
    finally:
        if stream is not None:
            stream.close()
        if usage is None:
            with contextlib.suppress(KeyError, LookupError):
                relay.close_job(spec.job_id)
        if container is not None:
            await asyncio.to_thread(remove_container, container)


async def _fresh_container(
    docker_client: docker.DockerClient, kwargs: dict[str, Any], job_id: str
) -> Container:
    """The job's container, created (not started); a dead attempt's under its name goes first."""
    # This job's lease is ours: a container under its name is a dead attempt's.
    if await asyncio.to_thread(remove_leftover, docker_client, kwargs["name"]):
        log.warning("sandbox.leftover_removed", job_id=job_id)
    return await asyncio.to_thread(docker_client.containers.create, **kwargs)


async def _watch(
    stream: ContainerStream,
    pids: PidsWatch,
    spec: RunSpec,
    limits: SandboxLimits,
    state: SessionState,
    on_event: EventCallback | None,
) -> _Followed:
    """Start the container and follow its events, with its disk (the workspace and the CLI's
    state), its processes and its time watched; any of them can stop it."""
    disk = DiskWatch(
        spec.workspace,
        max_bytes=limits.workspace_max_bytes,
        max_entries=limits.workspace_max_files,
        stop=stream.kill,
    )
    state_disk = DiskWatch(
        state.directory,
        max_bytes=state_disk_limit(limits.transcript_max_bytes),
        max_entries=STATE_MAX_ENTRIES,
        stop=stream.kill,
    )
    await asyncio.to_thread(stream.start)
    pids.start()
    watching = [asyncio.create_task(disk.run()), asyncio.create_task(state_disk.run())]
    deadline = spec.timeout_seconds or limits.timeout_seconds
    try:
        final, event_count, stopped = await _follow(stream, deadline, on_event)
    finally:
        for watch in watching:
            await _stop_watching(watch)
        refused_forks = await asyncio.to_thread(pids.stop)
        if refused_forks:
            log.warning("sandbox.pids_limit_reached", job_id=spec.job_id, refused=refused_forks)
    passed = disk.passed
    if passed is None and state_disk.passed is not None:
        passed = f"{state_disk.passed} in Claude Code's session files"
    if passed is not None:
        stopped = Outcome.WORKSPACE_LIMIT
        log.warning("sandbox.workspace_limit_reached", job_id=spec.job_id, passed=passed)
    if stream.dropped_lines:
        log.warning("sandbox.output_lines_dropped", job_id=spec.job_id, lines=stream.dropped_lines)
    return _Followed(final, event_count, stopped, refused_forks, passed or "")


async def _follow(
    stream: ContainerStream, deadline: float, on_event: EventCallback | None
) -> tuple[FinalResult | None, int, Outcome | None]:
    """Hand each event to the callback as it arrives, until the stream ends or the run must stop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Queued] = asyncio.Queue()
    reader = loop.run_in_executor(None, stream.read_events, loop, queue)
    final: FinalResult | None = None
    count = 0
    stopped: Outcome | None = None
    ends_at = loop.time() + deadline
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=max(0.0, ends_at - loop.time()))
            except TimeoutError:
                stopped = Outcome.TIMEOUT
                await asyncio.to_thread(stream.kill)
                break
            if item is END:
                break
            count += 1
            if isinstance(item, FinalResult):
                final = item
            if on_event is not None:
                outcome = on_event(item)
                if inspect.isawaitable(outcome):
                    await outcome
            stopped = reason_to_stop(item)
            if stopped is not None:
                await asyncio.to_thread(stream.kill)
                break
    finally:
        if not reader.done():
            stream.close()
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(asyncio.shield(reader), timeout=DRAIN_SECONDS)
    return final, count, stopped


async def _stop_watching(watching: asyncio.Task[None]) -> None:
    """End the disk watch; a failure of its own is logged, never the run's."""
    watching.cancel()
    await asyncio.wait([watching])
    if not watching.cancelled() and watching.exception() is not None:
        log.warning("sandbox.disk_watch_failed", error=repr(watching.exception()))


def _wait_for_exit(container: Container) -> _Exit:
    """The container's exit code and whether the kernel killed anything in it for memory."""
    try:
        status = container.wait(timeout=DRAIN_SECONDS)
        container.reload()
    except (NotFound, APIError, OSError):
        return _Exit(exit_code=None, oom_killed=False)
    state = container.attrs.get("State", {})
    return _Exit(
        exit_code=status.get("StatusCode", state.get("ExitCode")),
        oom_killed=bool(state.get("OOMKilled")),
    )
