"""What GitHub does when someone pushes: the branch moves in the fake's real repository, and the
`push` delivery GitHub sends the App is built from the commit (its added, modified and removed
files, as GitHub lists them)."""

from __future__ import annotations

from collections.abc import Mapping

from tests.fakes.github import gitrepo
from tests.fakes.github.payloads import JSON, repository, user
from tests.fakes.github.state import GitHubState


def push(
    state: GitHubState,
    repo_name: str,
    files: Mapping[str, str | None],
    *,
    branch: str | None = None,
    sender: str = "octocat",
    message: str = "Change files",
) -> JSON:
    """Commit `files` (None removes one) on `branch` (the default branch when None); the
    `push` delivery for that commit."""
    repo = state.repositories[repo_name]
    branch = branch or repo.default_branch
    before = gitrepo.branch_sha(repo.path, branch) or "0" * 40
    existing = gitrepo.read_files(repo.path, before) if before != "0" * 40 else {}
    after = state.push_branch(repo_name, branch, files, message=message)
    changes: dict[str, list[str]] = {"added": [], "modified": [], "removed": []}
    for name, content in files.items():
        if content is None:
            changes["removed"].append(name)
        else:
            changes["modified" if name in existing else "added"].append(name)
    commit = {"id": after, "message": message, "distinct": True, **changes}
    installation_id = next(
        inst.id for inst in state.installations.values() if repo_name in inst.repositories
    )
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [commit],
        "head_commit": commit,
        "repository": repository(state, repo),
        "installation": {"id": installation_id, "node_id": f"MDIz{installation_id}"},
        "pusher": {"name": sender, "email": f"{sender}@example.com"},
        "sender": user(state, sender),
    }
