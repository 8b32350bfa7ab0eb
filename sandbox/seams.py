"""The two seams a job's handler works through: the sandbox that runs Claude Code, and the host's
git workspaces. Handlers hold only these protocols; the service passes the real ones
(`app/sandbox_service.py`, `sandbox/host_workspaces.py`), and tests pass `tests/fakes/sandbox.py`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sandbox.container import RunSpec
from sandbox.environment import Prepared
from sandbox.environment_spec import EnvironmentSpec
from sandbox.git_review import ReviewCheckout
from sandbox.git_workspace import JobWorkspace
from sandbox.runner import EventCallback, RunResult
from sandbox.snapshot import Snapshot, SnapshotLimits
from sandbox.test_output import TestRun
from sandbox.verify_container import VerifySpec


class Sandbox(Protocol):
    """Runs one task of Claude Code on a workspace, or a repository's tests on a copy of a tree
    the host's git holds; the container never outlives the call. Also prepares the environment
    those start from, when the repository describes one."""

    async def run(self, spec: RunSpec, on_event: EventCallback | None = None) -> RunResult: ...

    async def verify(self, spec: VerifySpec) -> TestRun: ...

    async def prepare(
        self,
        spec: EnvironmentSpec,
        *,
        allowlist: tuple[str, ...],
        job_id: str,
        checkout: Path,
    ) -> Prepared: ...


class Workspaces(Protocol):
    """The host's git for a job: a checkout to work in, read back by the host's own code,
    committed and pushed; or a read-only checkout of one commit to review."""

    async def prepare(
        self, *, clone_url: str, token: str, default_branch: str, work_branch: str
    ) -> JobWorkspace: ...

    async def snapshot(self, workspace: JobWorkspace, limits: SnapshotLimits) -> Snapshot: ...

    async def files_on_branch(self, workspace: JobWorkspace) -> list[str]: ...

    async def commit(
        self,
        workspace: JobWorkspace,
        snapshot: Snapshot,
        *,
        message: str,
        author: tuple[str, str],
        co_authors: Sequence[tuple[str, str]],
    ) -> str | None: ...

    async def push(self, workspace: JobWorkspace, *, clone_url: str, token: str) -> None: ...

    async def remove(self, workspace: JobWorkspace) -> None: ...

    async def check_out(self, *, clone_url: str, token: str, sha: str) -> ReviewCheckout: ...

    async def remove_checkout(self, checkout: ReviewCheckout) -> None: ...
