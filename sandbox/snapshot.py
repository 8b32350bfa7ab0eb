"""A workspace's files as the host's own git objects: blobs, a tree, and diffs between two trees.

Git never runs over the agent's tree: the host reads it (`sandbox.workspace_walk`), writes each
changed file as a loose blob into a git directory only the host can reach (no filter, no
attribute, nothing of the agent's configuration takes part), builds the tree from its own index
file, and compares trees it built. Blob ids are computed here, so a file the baseline already
holds costs one hash and no write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.git_command import run_git_bytes
from sandbox.workspace_walk import (
    Refusal,
    WalkLimits,
    WorkspaceFile,
    WorkspaceRefused,
    megabytes,
    read_workspace,
    shown_path,
)

GITLINK = "160000"  # a submodule's commit: kept as the baseline has it, never looked into
LOOSE_COMPRESSION = 1  # git's core.looseCompression default: speed over size


@dataclass(frozen=True)
class SnapshotLimits:
    """The walk's limits, and how much changed content may be held in memory and committed."""

    walk: WalkLimits = field(default_factory=WalkLimits)
    max_changed_bytes: int = 128 * 1024 * 1024


@dataclass(frozen=True)
class TreeEntry:
    """A path's mode and object id in a tree."""

    mode: str  # "100644", "100755", "120000" or "160000"
    sha: str


Listing = Mapping[str, TreeEntry]


@dataclass(frozen=True)
class Snapshot:
    """The workspace as one host-built tree, and what changed since the baseline."""

    tree: str
    changed: tuple[str, ...]  # added, modified and deleted paths, sorted
    new_content: Mapping[str, bytes]  # what the added and modified paths hold now

    @property
    def changed_files(self) -> list[str]:
        """The changed paths for people to read (names that are not UTF-8 get U+FFFD)."""
        return [shown_path(path) for path in self.changed]

    def changed_text(self) -> str:
        """All new content as one text, for the secret scan."""
        return "\n".join(data.decode("utf-8", "replace") for data in self.new_content.values())


def _git(git_dir: Path) -> list[str]:
    return ["-c", f"safe.directory={git_dir}", f"--git-dir={git_dir}"]


def object_format(git_dir: Path) -> str:
    """The repository's hash ("sha1" or "sha256"), which names its objects."""
    out = run_git_bytes([*_git(git_dir), "rev-parse", "--show-object-format"], step="snapshot")
    return out.decode().strip() or "sha1"


def blob_id(data: bytes, hash_name: str) -> str:
    """The id git gives a blob holding `data`."""
    digest = hashlib.new(hash_name, b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def write_blob(git_dir: Path, data: bytes, sha: str) -> None:
    """Store `data` as the loose object `sha` (its `blob_id`), as git's own writer lays it out."""
    target = git_dir / "objects" / sha[:2] / sha[2:]
    if target.exists():
        return
    target.parent.mkdir(exist_ok=True)
    packer = zlib.compressobj(LOOSE_COMPRESSION)
    compressed = packer.compress(b"blob %d\0" % len(data)) + packer.compress(data) + packer.flush()
    descriptor, scratch = tempfile.mkstemp(dir=target.parent, prefix="tmp_obj_")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(compressed)
        os.chmod(scratch, 0o444)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def tree_listing(git_dir: Path, treeish: str) -> dict[str, TreeEntry]:
    """Every path of a host-owned tree (or commit) with its mode and id, submodules included."""
    out = run_git_bytes(
        [*_git(git_dir), "ls-tree", "-r", "-z", "--full-tree", treeish], step="snapshot"
    )
    listing = {}
    for record in out.split(b"\0"):
        meta, tab, path = record.partition(b"\t")
        if tab:
            mode, _, sha = meta.split(b" ")
            listing[os.fsdecode(path)] = TreeEntry(mode.decode(), sha.decode())
    return listing


def write_tree(git_dir: Path, listing: Listing) -> str:
    """The id of the tree holding exactly `listing`, built in an index file of the host's own."""
    records = b"".join(
        b"%s %s\t%s\0" % (entry.mode.encode(), entry.sha.encode(), os.fsencode(path))
        for path, entry in sorted(listing.items())
    )
    with tempfile.TemporaryDirectory(prefix="fixwright-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git = _git(git_dir)
        # update-index checks every path as git does for a checkout (no `.git`, no `..`).
        run_git_bytes(
            [*git, "update-index", "-z", "--index-info"], step="snapshot", env=env, stdin=records
        )
        return run_git_bytes([*git, "write-tree"], step="snapshot", env=env).decode().strip()


def take_snapshot(
    root: Path,
    git_dir: Path,
    *,
    baseline: Listing,
    limits: SnapshotLimits,
    skipped: Collection[str] = (),
    on_nested: Callable[[str], None] | None = None,
) -> Snapshot:
    """Read `root` as git would take it, store what changed since `baseline`, build the tree.

    The baseline's submodules (and `skipped` paths) are kept as they are and never looked into.
    Raises `WorkspaceRefused` for what the walk refuses, and when the changed content passes
    `limits.max_changed_bytes`.
    """
    kept = {path: entry for path, entry in baseline.items() if entry.mode == GITLINK}
    listing: dict[str, TreeEntry] = dict(kept)
    files = read_workspace(
        root,
        limits=limits.walk,
        tracked=[path for path in baseline if path not in kept],
        skipped={*kept, *skipped},
        on_nested=on_nested,
    )
    with contextlib.closing(files):  # its directories are closed as soon as a refusal is raised
        new_content = _store_changes(files, git_dir, baseline, listing, limits)
    deleted = baseline.keys() - listing.keys()
    return Snapshot(
        tree=write_tree(git_dir, listing),
        changed=tuple(sorted({*new_content, *deleted})),
        new_content=new_content,
    )


def _store_changes(
    files: Iterator[WorkspaceFile],
    git_dir: Path,
    baseline: Listing,
    listing: dict[str, TreeEntry],
    limits: SnapshotLimits,
) -> dict[str, bytes]:
    """Enter every file in `listing`; store and return those that differ from the baseline."""
    hash_name = object_format(git_dir)
    new_content: dict[str, bytes] = {}
    changed_bytes = 0
    for file in files:
        entry = TreeEntry(f"{file.mode:o}", blob_id(file.data, hash_name))
        listing[file.path] = entry
        if baseline.get(file.path) == entry:
            continue
        changed_bytes += len(file.data)
        if changed_bytes > limits.max_changed_bytes:
            limit = limits.max_changed_bytes
            raise WorkspaceRefused(
                Refusal.CHANGES_TOO_LARGE,
                file.path,
                f"more than {megabytes(limit)} of changed content",
                limit,
            )
        write_blob(git_dir, file.data, entry.sha)
        new_content[file.path] = file.data
    return new_content


def diff_trees(git_dir: Path, old: str, new: str, *, names_only: bool = False) -> str:
    """The patch (or the changed names) from one host-built tree to another; no driver runs."""
    shape = ["--name-only", "-z"] if names_only else ["-p", "--binary"]
    out = run_git_bytes(
        [
            *_git(git_dir),
            "diff-tree",
            "-r",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            *shape,
            old,
            new,
        ],
        step="diff",
    )
    return out.decode("utf-8", "replace")
