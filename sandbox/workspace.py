"""Host-side copies of a local git repository for the sandbox, and the diff of what the agent did.

The copy (its `.git` included) is the agent's. The host takes its snapshots with its own walk
into a git directory of its own beside the copy (`sandbox.snapshot`), so nothing the agent writes
into the copy's `.git` (`core.fsmonitor`, hooks, filters) ever runs on the host, and the diff is
between two trees the host built.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.container import AGENT_UID
from sandbox.git_command import run_git
from sandbox.git_errors import GitError
from sandbox.snapshot import SnapshotLimits, diff_trees, take_snapshot, tree_listing
from sandbox.workspace_walk import WorkspaceRefused

SNAPSHOTS = "snapshots.git"


class WorkspaceError(Exception):
    """The repository cannot be used as a workspace; the message says why."""


@dataclass(frozen=True)
class Workspace:
    """A private copy of a repository and the tree it held before the agent ran."""

    path: Path
    baseline_tree: str
    git_dir: Path  # the host's own repository of snapshots, outside the copy
    # Repositories nested in the copy at the start (initialised submodules): never read.
    nested: frozenset[str] = field(default_factory=frozenset)
    limits: SnapshotLimits = field(default_factory=SnapshotLimits)


def copy_repository(source: Path, parent: Path, limits: SnapshotLimits | None = None) -> Workspace:
    """Copy a local repository (working tree and uncommitted changes) under `parent` for the agent."""
    source = source.resolve()
    if not (source / ".git").exists():
        raise WorkspaceError(f"{source} is not the top of a git repository (no .git there).")
    limits = limits or SnapshotLimits()
    destination = parent / "workspace"
    shutil.copytree(source, destination, symlinks=True)
    git_dir = parent / SNAPSHOTS
    nested: list[str] = []
    try:
        run_git(["init", "--quiet", "--bare", str(git_dir)], step="snapshot")
        baseline = take_snapshot(
            destination, git_dir, baseline={}, limits=limits, on_nested=nested.append
        )
    except (GitError, WorkspaceRefused) as error:
        raise WorkspaceError(f"the repository cannot be copied for the agent: {error}") from None
    hand_to_agent(destination)
    return Workspace(destination, baseline.tree, git_dir, frozenset(nested), limits)


def hand_to_agent(path: Path) -> None:
    """Give the copy to the sandbox's non-root user so the agent can write it (needs root here)."""
    if os.geteuid() != 0 or os.geteuid() == AGENT_UID:
        return
    for directory, subdirectories, files in os.walk(path):
        os.lchown(directory, AGENT_UID, AGENT_UID)
        for name in (*subdirectories, *files):
            os.lchown(os.path.join(directory, name), AGENT_UID, AGENT_UID)


def diff_since_baseline(workspace: Workspace) -> str:
    """The agent's changes as a unified diff (new files included), relative to the copy's start.

    Raises `WorkspaceRefused` when the copy holds what the host will not read (a new nested
    repository, a FIFO, a file over the limits).
    """
    after = take_snapshot(
        workspace.path,
        workspace.git_dir,
        baseline=tree_listing(workspace.git_dir, workspace.baseline_tree),
        limits=workspace.limits,
        skipped=workspace.nested,
    )
    return diff_trees(workspace.git_dir, workspace.baseline_tree, after.tree)
