"""What GitHub does when someone closes, merges or reopens a pull request: the fake's record
changes, and the `pull_request` delivery GitHub sends the App for it is built from that record."""

from __future__ import annotations

from datetime import timedelta

from tests.fakes.github import gitrepo
from tests.fakes.github.payloads import JSON, repository, user
from tests.fakes.github.payloads_pulls import pull_request
from tests.fakes.github.records import now
from tests.fakes.github.state import GitHubState


def pull_request_delivery(
    state: GitHubState, repo_name: str, number: int, action: str, sender: str
) -> JSON:
    """The `pull_request.<action>` delivery for the pull request as the fake holds it now."""
    pull = state.pulls[(repo_name, number)]
    repo = state.repositories[repo_name]
    shas = (
        gitrepo.branch_sha(repo.path, pull.head) or "",
        gitrepo.branch_sha(repo.path, pull.base) or "",
    )
    installation_id = next(
        inst.id for inst in state.installations.values() if repo_name in inst.repositories
    )
    return {
        "action": action,
        "number": number,
        "pull_request": pull_request(state, pull, shas),
        "repository": repository(state, repo),
        "installation": {"id": installation_id, "node_id": f"MDIz{installation_id}"},
        "sender": user(state, sender),
    }


def close_pull_request(
    state: GitHubState,
    repo_name: str,
    number: int,
    *,
    merged: bool,
    sender: str = "octocat",
    after: timedelta = timedelta(0),
) -> JSON:
    """Close (or merge) the pull request `after` its last change; GitHub's delivery for it
    (`merged: true` and `merged_at` when merged)."""
    item = state.issues[(repo_name, number)]
    moment = max(now(), item.updated_at + after)
    item.state, item.closed_at, item.updated_at = "closed", moment, moment
    state.pulls[(repo_name, number)].merged = merged
    return pull_request_delivery(state, repo_name, number, "closed", sender)


def reopen_pull_request(
    state: GitHubState, repo_name: str, number: int, *, sender: str = "octocat"
) -> JSON:
    """Reopen a closed (unmerged) pull request; GitHub's delivery for it."""
    item = state.issues[(repo_name, number)]
    moment = max(now(), item.updated_at + timedelta(seconds=1))
    item.state, item.closed_at, item.updated_at = "open", None, moment
    return pull_request_delivery(state, repo_name, number, "reopened", sender)


def synchronize_pull_request(
    state: GitHubState, repo_name: str, number: int, before: str, *, sender: str = "octocat"
) -> JSON:
    """The delivery GitHub sends once commits were pushed to the pull request's branch (after
    `state.push_branch`): `before` is the head it had, `after` the head it has now."""
    payload = pull_request_delivery(state, repo_name, number, "synchronize", sender)
    return {**payload, "before": before, "after": payload["pull_request"]["head"]["sha"]}
