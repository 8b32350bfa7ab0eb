"""Host-built trees: the same ids as git's own for a clean tree, and changes measured against a baseline."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandbox.snapshot import (
    SnapshotLimits,
    TreeEntry,
    diff_trees,
    take_snapshot,
    tree_listing,
)
from sandbox.workspace_walk import Refusal, WalkLimits, WorkspaceRefused

FILES = {
    "README.md": "# hello\n",
    "src/app.py": "print('hi')\n",
    "src/deep/er/x.txt": "x\n",
    "src-file": "a name that sorts between src and src/\n",
    ".gitignore": "*.log\nbuild/\n",
    "docs/.gitignore": "!keep.log\n",
    "docs/keep.log": "kept by a negation\n",
    "debug.log": "ignored\n",
    "build/out.o": "ignored directory\n",
    "naïve.txt": "utf-8 name\n",
}


def git(directory: Path, *args: str) -> str:
    """git run by the test on a directory it made itself, with no outside configuration."""
    env = {
        "PATH": os.environ["PATH"],
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, env=env, check=True
    ).stdout


def write_tree_of(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "src" / "app.py").chmod(0o755)
    (root / "link").symlink_to("src/app.py")
    (root / "empty-dir").mkdir()


def host_repository(path: Path, object_format: str = "sha1") -> Path:
    git(path.parent, "init", "--quiet", "--bare", f"--object-format={object_format}", str(path))
    return path


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_a_clean_tree_gets_the_id_git_add_and_write_tree_give(
    tmp_path: Path, object_format: str
) -> None:
    """Files, an executable, a link, ignored files and odd names: the same tree id as git's."""
    work = tmp_path / "work"
    work.mkdir()
    write_tree_of(work, FILES)
    git(work, "init", "--quiet", f"--object-format={object_format}")
    git(work, "add", "--all")
    expected = git(work, "write-tree").strip()
    host = host_repository(tmp_path / "host.git", object_format)

    snapshot = take_snapshot(work, host, baseline={}, limits=SnapshotLimits())

    assert snapshot.tree == expected
    assert "debug.log" not in snapshot.changed and "docs/keep.log" in snapshot.changed
    assert tree_listing(host, snapshot.tree)["link"].mode == "120000"
    assert git(tmp_path, "--git-dir", str(host), "cat-file", "-p", f"{snapshot.tree}:link") == (
        "src/app.py"
    )


def test_changes_against_a_baseline_are_listed_and_unchanged_files_are_not_rewritten(
    tmp_path: Path,
) -> None:
    """Edits, additions, deletions and a mode change count; a tracked ignored file is still seen."""
    work = tmp_path / "work"
    work.mkdir()
    write_tree_of(work, {**FILES, "tracked.log": "tracked though ignored\n"})
    host = host_repository(tmp_path / "host.git")
    first = take_snapshot(work, host, baseline={}, limits=SnapshotLimits())
    baseline = {**tree_listing(host, first.tree), "tracked.log": TreeEntry("100644", "0" * 40)}
    baseline_tree = first.tree

    (work / "README.md").write_text("# hello, world\n")
    (work / "src" / "new.py").write_text("NEW = 1\n")
    (work / "src" / "deep" / "er" / "x.txt").unlink()
    (work / "src-file").chmod(0o755)
    (work / "debug.log").write_text("still ignored\n")
    (work / "tracked.log").write_text("changed\n")
    after = take_snapshot(work, host, baseline=baseline, limits=SnapshotLimits())

    assert after.changed == (
        "README.md",
        "src-file",
        "src/deep/er/x.txt",
        "src/new.py",
        "tracked.log",
    )
    assert after.new_content["src/new.py"] == b"NEW = 1\n"
    assert "src/app.py" not in after.new_content and "debug.log" not in after.new_content
    patch = diff_trees(host, baseline_tree, after.tree)
    assert "+# hello, world" in patch and "new file mode 100644" in patch
    assert "old mode 100644\nnew mode 100755" in patch and "deleted file mode" in patch
    assert diff_trees(host, baseline_tree, after.tree, names_only=True).split("\0")[0] == (
        "README.md"
    )


def test_a_submodule_of_the_baseline_is_kept_and_never_looked_into(tmp_path: Path) -> None:
    """The baseline's gitlink stays in the tree whatever sits at its path."""
    work = tmp_path / "work"
    (work / "vendor" / "lib").mkdir(parents=True)
    (work / "a.txt").write_text("a\n")
    os.mkfifo(work / "vendor" / "lib" / "pipe")  # refused if it were read
    host = host_repository(tmp_path / "host.git")
    commit = "1" * 40
    baseline = {"vendor/lib": TreeEntry("160000", commit)}

    snapshot = take_snapshot(work, host, baseline=baseline, limits=SnapshotLimits())

    assert tree_listing(host, snapshot.tree) == {
        "a.txt": TreeEntry("100644", "78981922613b2afb6025042ff6bd878ac1994e85"),
        "vendor/lib": TreeEntry("160000", commit),
    }
    assert snapshot.changed == ("a.txt",)


def test_changed_content_past_its_cap_is_refused(tmp_path: Path) -> None:
    """The changes held in memory and committed are capped, and the path where it was passed named."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("a", "b", "c"):
        (work / name).write_bytes(b"x" * 100)
    host = host_repository(tmp_path / "host.git")
    limits = SnapshotLimits(walk=WalkLimits(), max_changed_bytes=250)

    with pytest.raises(WorkspaceRefused) as raised:
        take_snapshot(work, host, baseline={}, limits=limits)

    assert (raised.value.refusal, raised.value.path) == (Refusal.CHANGES_TOO_LARGE, "c")
