"""The host-side copy of a repository, and the diff of what the agent changed in it."""

from __future__ import annotations

import pytest

from sandbox.workspace import WorkspaceError, copy_repository, diff_since_baseline
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
