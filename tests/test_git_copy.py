"""The copy a test run works on: a tree's files as the host's git objects hold them, whatever the
repository's attributes ask, with links kept as links and no `.git`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sandbox.git_copy import check_out_copy, tree_of
from tests.fixtures.sandbox import make_repository

ATTRIBUTES = "* text eol=crlf ident\n"


def test_the_copy_holds_the_stored_bytes_whatever_the_attributes_say(tmp_path: Path) -> None:
    """No end-of-line conversion and no `$Id$` expansion; modes and links kept."""
    repository = make_repository(
        tmp_path / "repo",
        {".gitattributes": ATTRIBUTES, "a.txt": "$Id$\nline\n", "run.sh": "echo hi\n"},
    )
    (repository / "run.sh").chmod(0o700)
    (repository / "link").symlink_to("/etc/passwd")
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "-C", str(repository), "add", "--all"], check=True)
    subprocess.run(["git", "-C", str(repository), *identity, "commit", "-qm", "more"], check=True)
    copy = tmp_path / "scratch" / "copy"
    copy.parent.mkdir()

    check_out_copy(repository / ".git", "HEAD", copy)

    assert (copy / "a.txt").read_bytes() == b"$Id$\nline\n"
    assert os.access(copy / "run.sh", os.X_OK)
    assert os.readlink(copy / "link") == "/etc/passwd"
    assert not (copy / ".git").exists()
    assert sorted(path.name for path in copy.parent.iterdir()) == ["copy"]  # its scratch is gone


def test_a_host_built_tree_is_copied_as_well_as_a_commit(tmp_path: Path) -> None:
    """The fix's tree (no commit yet) and a ref both name what to copy."""
    repository = make_repository(tmp_path / "repo", {"x.py": "X = 1\n"})
    tree = tree_of(repository / ".git", "HEAD")
    copy = tmp_path / "copy"
    check_out_copy(repository / ".git", tree, copy)
    assert (copy / "x.py").read_text() == "X = 1\n"
