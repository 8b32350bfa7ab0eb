"""A copy of one tree, written by the host from its own git objects: what a test run works on.

Never the agent's checkout: a copy holds exactly the commit's (or the host-built tree's) files,
so nothing the agent left beside them (ignored files, its `.git`) is tested, and nothing a test
run writes reaches what is committed. Git writes the files through a scratch git directory of
the host's, whose objects are the host directory's (an alternate), with the same attributes as
the job's clone: no filter, no end-of-line conversion, no `ident`, whatever `.gitattributes` says.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sandbox.git_command import run_git
from sandbox.git_workspace import RAW_CHECKOUT_ATTRIBUTES
from sandbox.snapshot import object_format
from sandbox.workspace import hand_to_agent


def _git(git_dir: Path) -> list[str]:
    return ["-c", f"safe.directory={git_dir}", f"--git-dir={git_dir}"]


def tree_of(git_dir: Path, treeish: str) -> str:
    """The id of the tree a commit, a ref or a tree of the host's git directory names."""
    return run_git(
        [*_git(git_dir), "rev-parse", "--verify", "--quiet", f"{treeish}^{{tree}}"], step="read"
    ).stdout.strip()


def check_out_copy(git_dir: Path, treeish: str, destination: Path) -> None:
    """Write the files of `treeish` into `destination` (made here, under a directory that exists)
    as stored, and give them to the sandbox's user."""
    tree = tree_of(git_dir, treeish)
    scratch = Path(tempfile.mkdtemp(prefix="fixwright-copy-", dir=destination.parent))
    try:
        run_git(
            [
                "init",
                "--quiet",
                "--bare",
                "--template=",
                f"--object-format={object_format(git_dir)}",
                str(scratch),
            ],
            step="read",
        )
        (scratch / "info").mkdir(exist_ok=True)
        (scratch / "info" / "attributes").write_text(RAW_CHECKOUT_ATTRIBUTES)
        alternates = scratch / "objects" / "info" / "alternates"
        alternates.parent.mkdir(parents=True, exist_ok=True)
        alternates.write_text(f"{(git_dir / 'objects').resolve()}\n")
        destination.mkdir()
        git = [
            *_git(scratch),
            f"--work-tree={destination}",
            "-c",
            "core.autocrlf=false",
            "-c",
            "core.symlinks=true",
        ]
        index = {"GIT_INDEX_FILE": str(scratch / "index")}
        run_git([*git, "read-tree", tree], step="read", env=index)
        run_git([*git, "checkout-index", "--all", "--quiet"], step="read", env=index)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    hand_to_agent(destination)
