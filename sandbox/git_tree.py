"""Files of one commit, read from the host's own git directory: never from a checkout the agent wrote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.git_command import run_git, run_git_bytes
from sandbox.git_errors import GitError

REGULAR_FILE_MODES = ("100644", "100755")  # not symlinks (120000), whose blob is a target path


@dataclass(frozen=True)
class TreeEntry:
    """One `git ls-tree -l` line."""

    path: str
    mode: str
    kind: str  # blob, tree or commit (a submodule)
    sha: str
    size: int | None  # bytes, for blobs

    @property
    def is_regular_file(self) -> bool:
        return self.kind == "blob" and self.mode in REGULAR_FILE_MODES


def _git(git_dir: Path) -> list[str]:
    # Literal pathspecs: a path taken from a repository's file must not be read as `:(glob)…` magic.
    return ["--literal-pathspecs", "-c", f"safe.directory={git_dir}", f"--git-dir={git_dir}"]


def list_tree(git_dir: Path, commit: str, paths: Sequence[str]) -> list[TreeEntry]:
    """The entries of `commit` at `paths` (a path ending in `/` lists that directory's children)."""
    listed = run_git(
        [*_git(git_dir), "ls-tree", "-z", "-l", "--full-tree", commit, "--", *paths], step="read"
    )
    entries = []
    for record in listed.stdout.split("\0"):
        meta, tab, path = record.partition("\t")
        fields = meta.split()
        if not tab or len(fields) != 4:
            continue
        mode, kind, sha, size = fields
        entries.append(TreeEntry(path, mode, kind, sha, int(size) if size.isdigit() else None))
    return entries


def read_blob(git_dir: Path, sha: str) -> str:
    """A blob's content as text (bytes that are not UTF-8 replaced)."""
    return run_git([*_git(git_dir), "cat-file", "blob", sha], step="read").stdout


def archive_directory(git_dir: Path, commit: str, directory: str, max_bytes: int) -> bytes:
    """A directory of `commit` as a tar archive (a Docker build context), from the host's git.

    Paths come from the repository, but the archive is git's own: no `..`, no absolute path, links
    kept as links. Larger than `max_bytes` is refused (a `GitError` saying so)."""
    tree = f"{commit}:{directory}" if directory not in ("", ".") else f"{commit}^{{tree}}"
    listed = run_git([*_git(git_dir), "ls-tree", "-r", "-l", "-z", tree], step="read").stdout
    size = sum(
        int(fields[3])
        for record in listed.split("\0")
        if len(fields := record.split(maxsplit=4)) > 3 and fields[3].isdigit()
    )
    if size > max_bytes:
        raise GitError(
            "read", f"the build context `{directory}` holds {size:,} bytes, over {max_bytes:,}"
        )
    return run_git_bytes([*_git(git_dir), "archive", "--format=tar", tree], step="read")
