"""The host's git workspaces for jobs, under one directory: the real `Workspaces` seam."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox import git_review, git_workspace
from sandbox.git_review import ReviewCheckout
from sandbox.git_workspace import JobWorkspace
from sandbox.snapshot import Snapshot, SnapshotLimits


@dataclass(frozen=True)
class HostWorkspaces:
    """Clones, checkouts and pushes under `parent` (the service's `<state dir>/workspaces`),
    cloned through the repositories' mirrors under `mirrors` when given."""

    parent: Path
    mirrors: Path | None = None

    async def prepare(
        self, *, clone_url: str, token: str, default_branch: str, work_branch: str
    ) -> JobWorkspace:
        return await git_workspace.prepare_workspace(
            clone_url=clone_url,
            token=token,
            default_branch=default_branch,
            work_branch=work_branch,
            parent=self.parent,
            mirrors=self.mirrors,
        )

    async def snapshot(self, workspace: JobWorkspace, limits: SnapshotLimits) -> Snapshot:
        return await git_workspace.snapshot_workspace(workspace, limits)

    async def files_on_branch(self, workspace: JobWorkspace) -> list[str]:
        return await git_workspace.files_on_branch(workspace)

    async def commit(
        self,
        workspace: JobWorkspace,
        snapshot: Snapshot,
        *,
        message: str,
        author: tuple[str, str],
        co_authors: Sequence[tuple[str, str]],
    ) -> str | None:
        return await git_workspace.commit_changes(
            workspace,
            message=message,
            author_name=author[0],
            author_email=author[1],
            co_authors=co_authors,
            snapshot=snapshot,
        )

    async def push(self, workspace: JobWorkspace, *, clone_url: str, token: str) -> None:
        await git_workspace.push(workspace, clone_url=clone_url, token=token)

    async def remove(self, workspace: JobWorkspace) -> None:
        await git_workspace.remove_workspace(workspace)

    async def check_out(self, *, clone_url: str, token: str, sha: str) -> ReviewCheckout:
        return await git_review.check_out_commit(
            clone_url=clone_url, token=token, sha=sha, parent=self.parent
        )

    async def remove_checkout(self, checkout: ReviewCheckout) -> None:
        await git_review.remove_checkout(checkout)
