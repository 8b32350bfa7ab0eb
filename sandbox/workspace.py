"""Host-side copies of a local git repository for the sandbox, and the diff of what the agent did."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sandbox.container import AGENT_UID


class WorkspaceError(Exception):
    """The repository cannot be used as a workspace; the message says why."""


@dataclass(frozen=True)
class Workspace:
    """A private copy of a repository and the tree it held before the agent ran."""

    path: Path
    baseline_tree: str


def git(path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in `path` and return its output; the copy may belong to the agent's uid, so trust it."""
    result = subprocess.run(
        ["git", "-c", f"safe.directory={path}", "-C", str(path), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed in {path}: {result.stderr.strip()}")
    return result.stdout


def snapshot_tree(path: Path) -> str:
    """The tree id of the working copy as it is now (tracked and untracked, minus ignored files).

    It uses a scratch index, so the repository's own index, and what the agent sees, stay as they were.
    """
    with tempfile.TemporaryDirectory(prefix="fixwright-index-") as scratch:
        index = Path(scratch) / "index"
        real_index = path / ".git" / "index"
        if real_index.is_file():
            shutil.copyfile(real_index, index)  # its stat cache saves re-hashing unchanged files
        env = {"GIT_INDEX_FILE": str(index)}
        git(path, "add", "--all", env=env)
        return git(path, "write-tree", env=env).strip()


def copy_repository(source: Path, parent: Path) -> Workspace:
    """Copy a local repository (working tree and uncommitted changes) under `parent` for the agent."""
    source = source.resolve()
    if not (source / ".git").exists():
        raise WorkspaceError(f"{source} is not the top of a git repository (no .git there).")
    destination = parent / "workspace"
    shutil.copytree(source, destination, symlinks=True)
    baseline = snapshot_tree(destination)
    hand_to_agent(destination)
    return Workspace(path=destination, baseline_tree=baseline)


def hand_to_agent(path: Path) -> None:
    """Give the copy to the sandbox's non-root user so the agent can write it (needs root here)."""
    if os.geteuid() != 0 or os.geteuid() == AGENT_UID:
        return
    for directory, subdirectories, files in os.walk(path):
        os.lchown(directory, AGENT_UID, AGENT_UID)
        for name in (*subdirectories, *files):
            os.lchown(os.path.join(directory, name), AGENT_UID, AGENT_UID)


def diff_since_baseline(workspace: Workspace) -> str:
    """The agent's changes as a unified diff (new files included), relative to the copy's start."""
    after = snapshot_tree(workspace.path)
    return git(workspace.path, "diff", "--no-color", "--binary", workspace.baseline_tree, after)
