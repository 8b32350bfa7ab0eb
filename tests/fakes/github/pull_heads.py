"""Pull request heads as GitHub keeps them: `refs/pull/N/head` in the base repository, forks too."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fakes.github import gitrepo
from tests.fakes.github.records import PullRequest, Repository
from tests.fakes.github.state import GitHubState


def pull_ref(number: int) -> str:
    return f"refs/pull/{number}/head"


def head_repository(state: GitHubState, pull: PullRequest) -> Repository:
    """The repository the head branch lives in: a fork, or the base repository itself."""
    return state.repositories[pull.head_repository or pull.repository]


def sync_head_ref(state: GitHubState, pull: PullRequest) -> str | None:
    """Point `refs/pull/N/head` of the base repository at the head branch's commit; its sha.

    GitHub moves the ref on every push to the head branch; the fake moves it whenever it is read.
    """
    base = state.repositories[pull.repository].path
    source = head_repository(state, pull).path
    sha = gitrepo.branch_sha(source, pull.head)
    if sha is None:
        return gitrepo.rev_parse(base, pull_ref(pull.number))
    if source != base:
        refspec = f"+refs/heads/{pull.head}:{pull_ref(pull.number)}"
        gitrepo.git("--git-dir", str(base), "fetch", "--quiet", str(source), refspec)
    else:
        gitrepo.git("--git-dir", str(base), "update-ref", pull_ref(pull.number), sha)
    return sha


def sync_pull_refs(state: GitHubState, repository: str) -> None:
    """Bring every pull request ref of `repository` up to date (before git serves it)."""
    for pull in list(state.pulls.values()):
        if pull.repository == repository:
            sync_head_ref(state, pull)


def fork(state: GitHubState, repository: str, owner: str) -> Repository:
    """`owner`'s fork of `repository`: a bare clone with the same history and default branch."""
    source = state.repositories[repository]
    state.user(owner)
    path: Path = state.root / owner / f"{source.name}.git"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(source.path), str(path)],
        check=True,
        capture_output=True,
    )
    forked = Repository(
        id=state.next_id(),
        owner=owner,
        name=source.name,
        default_branch=source.default_branch,
        private=source.private,
        path=path,
    )
    state.repositories[forked.full_name] = forked
    return forked


def open_fork_pull_request(
    state: GitHubState,
    repository: str,
    fork_repository: str,
    head: str,
    title: str,
    body: str | None = None,
    user: str | None = None,
) -> PullRequest:
    """A pull request into `repository` from branch `head` of `fork_repository`."""
    forked = state.repositories[fork_repository]
    if gitrepo.branch_sha(forked.path, head) is None:
        raise ValueError(f"branch {head!r} does not exist in {fork_repository}")
    issue = state.add_issue(repository, title, body, user or forked.owner)
    issue.is_pull_request = True
    pull = PullRequest(
        repository=repository,
        number=issue.number,
        id=state.next_id(),
        head=head,
        base=state.repositories[repository].default_branch,
        draft=False,
        maintainer_can_modify=False,
        head_repository=fork_repository,
    )
    state.pulls[(repository, pull.number)] = pull
    sync_head_ref(state, pull)
    return pull
