"""The host's walk of a tree the agent wrote: what it takes, what it refuses, what it never opens."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from sandbox.workspace_walk import (
    MAX_DEPTH,
    MODE_EXECUTABLE,
    MODE_FILE,
    MODE_LINK,
    Refusal,
    WalkLimits,
    WorkspaceRefused,
    read_workspace,
)
from sandbox.workspace_watch import measure_disk_use, over_limit

LIMITS = WalkLimits()


def tree(root: Path, files: dict[str, str]) -> Path:
    """Files under `root` with the given text."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def walked(root: Path, limits: WalkLimits = LIMITS, **options) -> dict[str, tuple[int, bytes]]:
    return {f.path: (f.mode, f.data) for f in read_workspace(root, limits=limits, **options)}


def refusal(root: Path, limits: WalkLimits = LIMITS, **options) -> WorkspaceRefused:
    with pytest.raises(WorkspaceRefused) as raised:
        walked(root, limits, **options)
    return raised.value


def test_files_links_and_the_executable_bit_are_taken_as_git_stores_them(tmp_path: Path) -> None:
    """A link is its text (never followed, even to a directory); `chmod +x` is mode 100755."""
    root = tree(tmp_path / "w", {"a.txt": "a\n", "bin/run": "#!/bin/sh\n", "d/inner.txt": "i\n"})
    (root / "bin" / "run").chmod(0o755)
    (root / "leak").symlink_to("/etc/passwd")
    (root / "dir-link").symlink_to(tmp_path)  # would loop, and lead outside, if followed

    assert walked(root) == {
        "a.txt": (MODE_FILE, b"a\n"),
        "bin/run": (MODE_EXECUTABLE, b"#!/bin/sh\n"),
        "d/inner.txt": (MODE_FILE, b"i\n"),
        "dir-link": (MODE_LINK, os.fsencode(str(tmp_path))),
        "leak": (MODE_LINK, b"/etc/passwd"),
    }


def test_the_roots_own_git_is_never_read(tmp_path: Path) -> None:
    """The agent's copy of the history is skipped whole: a FIFO in it is neither refused nor opened."""
    root = tree(tmp_path / "w", {"a.txt": "a\n", ".git/config": "[core]\n"})
    os.mkfifo(root / ".git" / "fsmonitor-pipe")

    assert list(walked(root)) == ["a.txt"]


@pytest.mark.parametrize("kind", ["directory", "file", "link", "upper-case directory"])
def test_a_git_entry_below_the_root_is_refused_by_path(tmp_path: Path, kind: str) -> None:
    """A nested repository, a `.git` file pointing elsewhere, a `.git` link: refused, naming the path."""
    root = tree(tmp_path / "w", {"a.txt": "a\n", "vendor/deep/sub/code.py": "x = 1\n"})
    place = root / "vendor" / "deep" / "sub"
    name = ".git"
    if kind == "directory":
        tree(place / ".git", {"config": '[filter "x"]\n\tclean = touch /opt/owned\n'})
    elif kind == "file":
        (place / ".git").write_text(f"gitdir: {tmp_path}/elsewhere\n")
    elif kind == "link":
        (place / ".git").symlink_to(tmp_path)
    else:
        name = ".GIT"
        (place / name).mkdir()

    refused = refusal(root)

    assert refused.refusal is Refusal.NESTED_REPOSITORY
    assert refused.path == f"vendor/deep/sub/{name}"
    assert str(refused) == f"a nested git repository at vendor/deep/sub/{name}"


def test_a_nested_repository_can_be_skipped_instead(tmp_path: Path) -> None:
    """With `on_nested`, a directory holding a `.git` is reported and left unread."""
    root = tree(tmp_path / "w", {"a.txt": "a\n", "mod/.git": "gitdir: ../.git/modules/mod\n"})
    tree(root, {"mod/file.c": "int x;\n"})
    nested: list[str] = []

    assert list(walked(root, on_nested=nested.append)) == ["a.txt"]
    assert nested == ["mod"]


def test_fifos_sockets_and_devices_are_refused_by_name_without_being_opened(tmp_path: Path) -> None:
    """A FIFO would hang a reader; each special file is named, none is opened."""
    root = tree(tmp_path / "w", {"a.txt": "a\n"})
    os.mkfifo(root / "pipe")
    assert (refusal(root).refusal, refusal(root).path, refusal(root).what) == (
        Refusal.SPECIAL_FILE,
        "pipe",
        "a named pipe (FIFO)",
    )
    os.unlink(root / "pipe")

    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(root / "sock"))
        assert (refusal(root).path, refusal(root).what) == ("sock", "a socket")
    os.unlink(root / "sock")

    try:
        os.mknod(root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this user may not make device files")
    assert (refusal(root).path, refusal(root).what) == ("null", "a device file")


def test_the_caps_refuse_a_large_file_too_many_bytes_too_many_files(tmp_path: Path) -> None:
    """Each cap names the path where it was passed."""
    root = tree(tmp_path / "w", {"a.txt": "a" * 10, "b.txt": "b" * 10, "c/d.txt": "d" * 10})

    big = refusal(root, WalkLimits(max_file_bytes=9))
    total = refusal(root, WalkLimits(max_total_bytes=25))
    count = refusal(root, WalkLimits(max_files=2))

    assert (big.refusal, big.path, big.limit) == (Refusal.FILE_TOO_LARGE, "a.txt", 9)
    assert (total.refusal, total.path) == (Refusal.TOO_MANY_BYTES, "c/d.txt")
    assert (count.refusal, count.path) == (Refusal.TOO_MANY_FILES, "c/d.txt")
    assert len(walked(root, WalkLimits(max_file_bytes=10, max_total_bytes=30, max_files=3))) == 3


def test_nesting_past_the_depth_limit_is_refused(tmp_path: Path) -> None:
    """A tree deeper than the walk holds directories open for is refused, not followed down."""
    deepest = tmp_path / "w" / Path(*["d"] * (MAX_DEPTH + 1))
    deepest.mkdir(parents=True)
    (deepest / "f").write_text("deep\n")

    refused = refusal(tmp_path / "w")

    assert refused.refusal is Refusal.TOO_DEEP


def test_ignored_directories_are_not_entered_unless_the_baseline_tracks_files_there(
    tmp_path: Path,
) -> None:
    """`node_modules/` is pruned (a FIFO inside is never seen); a tracked file under it still counts."""
    root = tree(
        tmp_path / "w",
        {
            ".gitignore": "node_modules/\n*.log\n",
            "index.js": "x\n",
            "node_modules/pkg/index.js": "y\n",
            "node_modules/keep.js": "kept\n",
            "debug.log": "tracked log\n",
            "new.log": "untracked log\n",
        },
    )
    os.mkfifo(root / "node_modules" / "pkg" / "pipe")

    assert list(walked(root)) == [".gitignore", "index.js"]
    assert list(walked(root, tracked={"node_modules/keep.js", "debug.log"})) == [
        ".gitignore",
        "debug.log",
        "index.js",
        "node_modules/keep.js",
    ]


def test_skipped_paths_are_not_looked_into(tmp_path: Path) -> None:
    """A submodule's place is left alone, whatever the agent put there."""
    root = tree(tmp_path / "w", {"a.txt": "a\n", "sub/.git": "gitdir: x\n"})
    os.mkfifo(root / "sub" / "pipe")

    assert list(walked(root, skipped={"sub"})) == ["a.txt"]


def test_a_link_named_gitignore_is_not_followed(tmp_path: Path) -> None:
    """As git, the walk reads no `.gitignore` that is a link (it could point at any host file)."""
    root = tree(tmp_path / "w", {"rules": "*.txt\n", "a.txt": "a\n"})
    (root / ".gitignore").symlink_to(root / "rules")

    assert set(walked(root)) == {".gitignore", "a.txt", "rules"}


def test_disk_use_counts_everything_and_follows_no_link(tmp_path: Path) -> None:
    """The watch's measure counts `.git` and ignored files, stops past a limit, skips links' targets."""
    root = tree(tmp_path / "w", {".gitignore": "*.bin\n", ".git/objects/x": "o" * 5000})
    (root / "big.bin").write_bytes(b"\1" * 200_000)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "huge").write_bytes(b"\1" * 2_000_000)
    (root / "link").symlink_to(outside)

    use = measure_disk_use(root, max_bytes=10**9, max_entries=10**6)

    assert 200_000 <= use.bytes < 1_000_000
    assert use.entries == 6  # .gitignore, .git, .git/objects, its file, big.bin, link
    assert over_limit(use, max_bytes=10**9, max_entries=10**6) is None
    assert over_limit(use, max_bytes=100_000, max_entries=10**6) == "more than 0.1 MB on disk"
    assert over_limit(use, max_bytes=10**9, max_entries=5) == "more than 5 files and directories"
    assert measure_disk_use(tmp_path / "gone", max_bytes=1, max_entries=1).bytes == 0


def test_ignore_rules_past_their_caps_are_refused_before_they_cost_much(tmp_path: Path) -> None:
    """Too many patterns, one longer than any path, or matching past its work budget: refused by path."""
    many = tree(tmp_path / "many", {"sub/.gitignore": "x\n" * 10_001})
    long = tree(tmp_path / "long", {".gitignore": "a" * 5000 + "\n"})
    costly = tree(tmp_path / "costly", {".gitignore": ("a*" * 20 + "b\n") * 200})
    for i in range(20):
        (costly / ("a" * 200 + f"b{i}")).write_text("x\n")  # holds the `b`: the automaton runs

    refusals = [refusal(many), refusal(long), refusal(costly, WalkLimits(max_match_steps=100_000))]

    assert [(r.refusal, r.path) for r in refusals[:2]] == [
        (Refusal.IGNORE_RULES, "sub/.gitignore"),
        (Refusal.IGNORE_RULES, ".gitignore"),
    ]
    assert refusals[2].refusal is Refusal.IGNORE_RULES
    assert refusals[2].what == "ignore patterns that take too much work to apply"
    assert len(walked(costly)) == 21  # within the default budget the same tree is read
