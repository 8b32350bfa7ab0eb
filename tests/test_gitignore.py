"""The host's `.gitignore` matcher agrees with git, and stays fast on patterns built to backtrack.

git is the oracle here: `git check-ignore --no-index`, run by the test in a directory the test
made and owns, decides each path; the host's matcher must say the same.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from sandbox.gitignore import IgnoreRules, parse_ignore_file
from sandbox.wildmatch import Glob
from sandbox.workspace_walk import WalkLimits, read_workspace

PATTERNS = [
    "*", "*.txt", "foo", "/foo", "foo/bar", "**/foo", "foo/**", "a/**/b", "**", "a**b", "a*/b",
    "*/*", "*/b", "**/b", "a/**", "x/a/b", "foo**/bar", "**foo", "a/b**", "deep/**/*.pdf",
    "[ab]", "[!ab]", "[^ab]", "[a-c]", "[]]", "[]a]", "[!]]", "[a-]", "[-a]", "[\\]]", "[a-c-e]",
    "[z-a]", "[[:alpha:]]", "[[:digit:][:upper:]]", "[[:bogus:]]", "[[:space:]]*", "[[:punct:]]*",
    "[a", "\\", "foo\\", "\\*", "\\[ab]", "*.[tT][xX][tT]", "q[0-9]", "[[:upper:]]", "?", "??",
    "a?c", "a/?", "\\#x", "#x", "\\!x", "!x", "a\\ ", "a ", "tab?name", "é*", "*~", "a/b/",
]  # fmt: skip
PATHS = [
    "foo", "foo.txt", "a/foo", "a/b/foo", "x/a/b", "abc", "a/c", "a.c", "a", "b", "c", "d", "e",
    "-", "]", "\\", "*", "[ab]", "foo/bar", "foo/x/bar", "foox/bar", "xfoo", "foo/bar/baz", "a/b",
    "a/x/y/b", "ab", "axxb", "a/xb", "deep/x/y/z.pdf", "deep/z.pdf", "#x", "!x", "a ", "a b",
    "é.txt", "Q", "q1", "x.TXT", "tab\tname", "backup~", ".hidden", "x/.hidden", " lead",
    "a/b/c",
]  # fmt: skip


def git(directory: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """git with no configuration but the test directory's own."""
    env = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(
        ["git", "-C", str(directory), *args], input=stdin, capture_output=True, env=env
    )


def ignored_by_git(directory: Path, paths: list[str]) -> set[str]:
    """The paths `git check-ignore --no-index` calls ignored in `directory`."""
    result = git(directory, "check-ignore", "--no-index", "--stdin", "-z", stdin=b"\0".join(
        os.fsencode(path) for path in paths
    ))  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return {os.fsdecode(name) for name in result.stdout.split(b"\0") if name}


def ignored_by_rules(rules: IgnoreRules, path: str) -> bool:
    """As git decides a path: ignored when any directory above it is, or when it is."""
    parts = path.split("/")
    above = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
    return any(rules.excluded(os.fsencode(d), True) for d in above) or rules.excluded(
        os.fsencode(path), False
    )


@pytest.fixture(scope="module")
def scratch_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ignore-oracle")
    assert git(directory, "init", "--quiet").returncode == 0
    return directory


@pytest.mark.parametrize("pattern", PATTERNS)
def test_one_pattern_decides_like_git(scratch_repository: Path, pattern: str) -> None:
    """For one `.gitignore` line, every sample path is ignored exactly when git says it is."""
    (scratch_repository / ".gitignore").write_bytes(pattern.encode() + b"\n")
    rules = IgnoreRules().with_patterns(parse_ignore_file(pattern.encode() + b"\n", b""))

    expected = ignored_by_git(scratch_repository, PATHS)

    assert {path for path in PATHS if ignored_by_rules(rules, path)} == expected


ROOT_IGNORE = """\
# a comment, and a blank line

*.log
!important.log
/anchored.txt
build/
doc/**/*.pdf
**/cache
tmp/*
!tmp/keep/
out/
!out/keep.txt
lib/**
!lib/public/
sym/
\\#hash.txt
\\!bang.txt
trailing\\ 
spaced.txt   
*.o[!b]
"""  # noqa: W291 (trailing spaces are part of what is tested)
TREE = {
    ".gitignore": ROOT_IGNORE,
    "sub/.gitignore": "*.tmp\n!keep.tmp\n/only-here.txt\nnested/\n",
    "sub/inner/.gitignore": "!*.log\r\n",
}
FILES = [
    "a.log", "important.log", "sub/b.log", "sub/inner/c.log", "anchored.txt", "sub/anchored.txt",
    "build/x.c", "src/build/y.c", "src/build.txt", "doc/a.pdf", "doc/x/y/b.pdf", "doc/x/b.txt",
    "cache/a", "src/cache/b", "src/cachex/c", "tmp/a.txt", "tmp/keep/b.txt", "tmp/other/c.txt",
    "out/keep.txt", "out/other.txt", "lib/a.js", "lib/public/b.js", "#hash.txt", "!bang.txt",
    "trailing ", "trailing", "spaced.txt", "x.ob", "x.oc", "sub/x.tmp", "sub/keep.tmp",
    "sub/only-here.txt", "sub/deeper/only-here.txt", "sub/nested/f", "sub/deeper/nested/g",
    "nested/h", "src/main.c",
]  # fmt: skip


def test_a_tree_of_nested_ignore_files_is_walked_as_git_sees_it(tmp_path: Path) -> None:
    """Nested files, negations (one under an excluded directory), anchors and `**`, as git has it."""
    root = tmp_path / "tree"
    for path in FILES:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
    for path, text in TREE.items():
        (root / path).write_text(text)
    (root / "sym").symlink_to("src")  # a link is no directory: `sym/` does not match it
    assert git(root, "init", "--quiet").returncode == 0
    everything = [*FILES, *TREE, "sym"]

    kept = {file.path for file in read_workspace(root, limits=WalkLimits())}

    ignored = ignored_by_git(root, everything)
    assert "out/keep.txt" in ignored and "tmp/keep/b.txt" not in ignored  # the cases that matter
    assert kept == set(everything) - ignored


def test_a_pattern_built_to_backtrack_finishes_on_a_long_name(tmp_path: Path) -> None:
    """`a*a*…a*b` over a long run of `a`s, which a backtracking matcher would take ages over."""
    hostile = b"a*" * 40 + b"b"
    name = b"a" * 4000
    done = threading.Event()
    verdicts: list[bool] = []

    def match() -> None:
        verdicts.append(Glob(hostile).matches(name))
        verdicts.append(Glob(b"**/" * 40 + b"a*" * 40 + b"b").matches(b"a/" * 1000 + b"a" * 200))
        done.set()

    threading.Thread(target=match, daemon=True).start()
    assert done.wait(30), "the hostile pattern did not finish"
    assert verdicts == [False, False]
    assert Glob(hostile).matches(b"a" * 100 + b"b")

    root = tmp_path / "tree"
    root.mkdir()
    (root / ".gitignore").write_bytes(hostile + b"\n")
    (root / ("a" * 254 + "b")).write_text("ignored\n")
    (root / ("a" * 255)).write_text("kept\n")
    assert [file.path for file in read_workspace(root, limits=WalkLimits())] == [
        ".gitignore",
        "a" * 255,
    ]
