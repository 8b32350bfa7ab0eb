"""The host-side copy of a repository, and the diff of what the agent changed in it."""

from __future__ import annotations

import os

import pytest

from sandbox.workspace import WorkspaceError, copy_repository, diff_since_baseline
from sandbox.workspace_walk import Refusal, WorkspaceRefused
from tests.fixtures.sandbox import make_repository


def test_the_diff_holds_edits_and_new_files_but_not_prior_uncommitted_work(tmp_path) -> None:
    """Uncommitted changes travel with the copy but are not reported as the agent's."""
    source = make_repository(tmp_path / "repo")
    (source / "README.md").write_text("# widgets\nwork in progress\n")
    (tmp_path / "copies").mkdir()
    workspace = copy_repository(source, tmp_path / "copies")

    (workspace.path / "widgets.py").write_text("def greet(name):\n    return name\n")
    (workspace.path / "NEW.md").write_text("new\n")
    diff = diff_since_baseline(workspace)

    assert (workspace.path / "README.md").read_text().endswith("work in progress\n")
    assert "+    return name" in diff
    assert "new file mode" in diff and "+new" in diff
    assert "README.md" not in diff
    assert "return name" not in (source / "widgets.py").read_text()


def test_a_directory_that_is_not_a_repository_is_refused(tmp_path) -> None:
    """Pointing `fixwright run` at a plain directory fails with a clear reason."""
    (tmp_path / "plain").mkdir()
    with pytest.raises(WorkspaceError, match="not the top of a git repository"):
        copy_repository(tmp_path / "plain", tmp_path)


def test_a_repository_already_nested_in_the_copy_is_left_out_of_both_snapshots(tmp_path) -> None:
    """An initialised submodule (a `.git` file) is not read at the start, nor after the run."""
    source = make_repository(tmp_path / "repo")
    (source / "mod").mkdir()
    (source / "mod" / ".git").write_text("gitdir: ../.git/modules/mod\n")
    (source / "mod" / "lib.c").write_text("int x;\n")
    (tmp_path / "copies").mkdir()
    workspace = copy_repository(source, tmp_path / "copies")

    (workspace.path / "mod" / "lib.c").write_text("int y;\n")
    (workspace.path / "widgets.py").write_text("X = 1\n")
    diff = diff_since_baseline(workspace)

    assert workspace.nested == {"mod"}
    assert "+X = 1" in diff and "lib.c" not in diff
    assert not workspace.git_dir.is_relative_to(workspace.path)


def test_a_repository_the_agent_nests_in_the_copy_is_refused_by_path(tmp_path) -> None:
    """A `.git` that appears during the run makes the diff a refusal naming it, read by nothing."""
    source = make_repository(tmp_path / "repo")
    (tmp_path / "copies").mkdir()
    workspace = copy_repository(source, tmp_path / "copies")
    (workspace.path / "vendor" / "sub" / ".git").mkdir(parents=True)
    os.mkfifo(workspace.path / "vendor" / "sub" / ".git" / "pipe")

    with pytest.raises(WorkspaceRefused) as raised:
        diff_since_baseline(workspace)

    assert (raised.value.refusal, raised.value.path) == (
        Refusal.NESTED_REPOSITORY,
        "vendor/sub/.git",
    )
