"""A sandbox that replays a scripted run: the `Sandbox` seam without Docker, the CLI or a model.

Each `ScriptedRun` says what Claude Code would have done: the files it leaves in the workspace
(written as the container would, into the mounted checkout), the tools it calls (streamed to the
handler as the runner streams them), and how the run ends. Each scripted test run is what the
repository's tests printed and how they ended: a `TestRun`, or a function of the copy of the tree
the host wrote for it (with the real `check_out_copy`) when a test needs to look at that copy.
Handlers, the worker and the intake run for real around it; only the container is replaced.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import shutil
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.container import RunSpec
from sandbox.environment import EnvironmentFailed, Prepared
from sandbox.environment_spec import EnvironmentSpec
from sandbox.git_copy import check_out_copy
from sandbox.runner import EventCallback, Outcome, RunResult
from sandbox.session import Transcript
from sandbox.stream import AssistantText, FinalResult, StreamEvent, SystemInit, ToolUse
from sandbox.test_output import OutputReader, TestRun, TestStatus
from sandbox.usage import JobUsage
from sandbox.verify_container import VerifySpec, run_name

FAKE_MODEL = "claude-sonnet-4-5"
# The session a FakeSandbox's runs start when they resume none (each run continues its `resume`).
FAKE_SESSION_ID = "0f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"


@dataclass(frozen=True)
class ScriptedRun:
    """One run played back: what it writes, which tools it calls, how it ends."""

    summary: str = "Fixed it."
    # Paths relative to the workspace: text or bytes to write, or None to delete.
    files: Mapping[str, str | bytes | None] = field(default_factory=dict)
    tools: Sequence[ToolUse] = ()
    outcome: Outcome = Outcome.SUCCESS
    usage: JobUsage = field(
        default_factory=lambda: JobUsage(input_tokens=1_200, output_tokens=300, requests=2)
    )
    model: str = FAKE_MODEL
    exit_code: int = 0
    limit_passed: str = ""
    # When set, the run waits for it before it ends (a long run a test cancels or interrupts).
    hold: asyncio.Event | None = None
    # Paths relative to the workspace the run reads before it writes: what Claude would see.
    reads: Sequence[str] = ()
    # False: the run leaves no session (the CLI wrote none, or it was over the cap).
    keeps_session: bool = True

    def events(self, session_id: str = FAKE_SESSION_ID) -> list[StreamEvent]:
        """What the CLI would stream: the start, each tool call, its words, the final result."""
        turns = max(len(self.tools), 1)
        final = FinalResult(
            subtype="success" if self.outcome is Outcome.SUCCESS else "error_during_execution",
            is_error=self.outcome is not Outcome.SUCCESS,
            num_turns=turns,
            duration_ms=1_000,
            total_cost_usd=0.01,
            usage={},
            result=self.summary,
        )
        start = SystemInit(session_id=session_id, model=self.model, tools=(), cwd="/workspace")
        return [start, *self.tools, AssistantText(self.summary), final]


def tool(name: str, **tool_input: Any) -> ToolUse:
    """A tool call for a script: `tool("Edit", file_path="/workspace/a.py")`."""
    return ToolUse(id=f"toolu_{name.lower()}", name=name, input=dict(tool_input))


def transcript_after(spec: RunSpec, session_id: str = FAKE_SESSION_ID) -> Transcript:
    """The session a run on `spec` leaves, as the CLI would: the resumed session's lines (its id
    kept), then one JSON line with the new prompt."""
    if spec.resume is not None:
        session_id, earlier = spec.resume.session_id, spec.resume.data
    else:
        earlier = b""
    line = {
        "type": "user",
        "sessionId": session_id,
        "message": {"role": "user", "content": spec.prompt},
    }
    return Transcript(session_id, earlier + json.dumps(line).encode() + b"\n")


def printed(output: str, *, exit_code: int = 0, secrets: tuple[str, ...] = ()) -> TestRun:
    """A test run that printed `output` and exited with `exit_code`, read as the runner reads it."""
    reader = OutputReader(secrets=secrets)
    reader.feed(1, output.encode())
    status = TestStatus.PASSED if exit_code == 0 else TestStatus.FAILED
    return reader.run(status, exit_code=exit_code, seconds=0.5)


# A scripted test run: how it ended, or a function of the host's copy of the tree it ran on.
ScriptedTests = TestRun | Callable[[Path], TestRun]


@dataclass
class FakeSandbox:
    """Plays its scripted runs and test runs in order; remembers every spec it was handed (in
    order: `specs[n].resume` is what run n resumed). Each run leaves a session transcript
    (`transcript_after`). Environments are "prepared" as `environment_outcome` says: an image
    name, or the failure."""

    runs: deque[ScriptedRun] = field(default_factory=deque)
    specs: list[RunSpec] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    # For each run, the text of the files it `reads` (None for a file not in the workspace).
    seen: list[dict[str, str | None]] = field(default_factory=list)
    environment_outcome: Prepared | EnvironmentFailed = field(
        default_factory=lambda: Prepared("fixwright-env:prepared", "0" * 64, False, 1.0)
    )
    environments: list[tuple[EnvironmentSpec, tuple[str, ...]]] = field(default_factory=list)
    test_runs: deque[ScriptedTests] = field(default_factory=deque)
    verify_specs: list[VerifySpec] = field(default_factory=list)

    async def prepare(
        self,
        spec: EnvironmentSpec,
        *,
        allowlist: tuple[str, ...],
        job_id: str,
        checkout: Path,
    ) -> Prepared:
        self.environments.append((spec, allowlist))
        if isinstance(self.environment_outcome, EnvironmentFailed):
            raise self.environment_outcome
        return self.environment_outcome

    @classmethod
    def playing(cls, *runs: ScriptedRun) -> FakeSandbox:
        return cls(runs=deque(runs))

    async def run(self, spec: RunSpec, on_event: EventCallback | None = None) -> RunResult:
        self.specs.append(spec)
        self.started.set()
        if not self.runs:
            raise AssertionError(f"the fake sandbox has no scripted run left for {spec.job_id}")
        run = self.runs.popleft()
        self.seen.append({path: read_text(spec.workspace / path) for path in run.reads})
        transcript = transcript_after(spec) if run.keeps_session else None
        events = run.events(transcript.session_id if transcript else FAKE_SESSION_ID)
        for event in events:
            if on_event is not None:
                outcome = on_event(event)
                if inspect.isawaitable(outcome):
                    await outcome
        if not spec.read_only:
            write_files(spec.workspace, run.files)
        if run.hold is not None:
            await run.hold.wait()
        final = events[-1]
        assert isinstance(final, FinalResult)
        return RunResult(
            outcome=run.outcome,
            final=final,
            exit_code=run.exit_code,
            usage=run.usage,
            event_count=len(events),
            stderr_tail="",
            seconds=1.0,
            limit_passed=run.limit_passed,
            transcript=transcript,
        )

    async def verify(self, spec: VerifySpec) -> TestRun:
        self.verify_specs.append(spec)
        if not self.test_runs:
            raise AssertionError(f"the fake sandbox has no scripted test run left for {spec.label}")
        scripted = self.test_runs.popleft()
        if isinstance(scripted, TestRun):
            return scripted
        copy = spec.scratch / f"verify-{run_name(spec.label)}"
        await asyncio.to_thread(check_out_copy, spec.git_dir, spec.tree, copy)
        try:
            return scripted(copy)
        finally:
            shutil.rmtree(copy, ignore_errors=True)


def read_text(path: Path) -> str | None:
    """A file of the workspace as the agent would read it, or None when there is none."""
    return path.read_text() if path.is_file() else None


def write_files(workspace: Path, files: Mapping[str, str | bytes | None]) -> None:
    """What the agent leaves in the checkout; like the container, it may write anything."""
    for relative, content in files.items():
        path = workspace / relative
        if content is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
