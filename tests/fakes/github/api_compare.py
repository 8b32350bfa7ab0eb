"""The fake's commit comparison, `GET /repos/{o}/{r}/compare/{base}...{head}`, from the real repository.

As GitHub does, it compares the merge base of the two commits with the head: the diff a pull
request shows, for exactly the commits named, wherever the branches have moved since.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import gitrepo, payloads, payloads_pulls
from tests.fakes.github.auth import not_found
from tests.fakes.github.respond import answer, repo_name, require, state_of
from tests.fakes.github.state import GitHubState

# GitHub lists at most this many files of a comparison, on its first page.
MAX_FILES = 300
FIELDS = ("sha", "tree", "parents", "author", "email", "authored", "committer", "cemail", "dated")
LOG_FORMAT = (
    "%x00".join(("%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B")) + "%x1e"
)


def resolve(bare: Path, name: str) -> str | None:
    """A commit sha, a branch, or `owner:branch` (the owner is not checked) as a commit sha."""
    name = name.partition(":")[2] or name
    return None if name.startswith("-") else gitrepo.rev_parse(bare, name)


def merge_base(bare: Path, base: str, head: str) -> str | None:
    """The commit both descend from, or None when they share no history."""
    try:
        return gitrepo.git("--git-dir", str(bare), "merge-base", base, head).strip() or None
    except RuntimeError:
        return None


def commits(bare: Path, *revisions: str) -> list[dict[str, str]]:
    """`git log` of `revisions`, oldest first, one dict per commit."""
    out = gitrepo.git(
        "--git-dir", str(bare), "log", "--reverse", f"--format={LOG_FORMAT}", *revisions
    )
    found = []
    for record in out.split("\x1e"):
        values = record.strip("\n").split("\x00")
        if len(values) == len(FIELDS) + 1:
            found.append({**dict(zip(FIELDS, values[:-1], strict=True)), "message": values[-1]})
    return found


def commit_json(state: GitHubState, repository: str, commit: dict[str, str]) -> payloads.JSON:
    """A Commit as the comparison lists it (authors are not linked to accounts here)."""
    api = f"{state.base_url}/repos/{repository}"
    sha = commit["sha"]
    return {
        "url": f"{api}/commits/{sha}",
        "sha": sha,
        "node_id": payloads.node_id("C", int(sha[:7], 16)),
        "html_url": f"{state.web_root}/{repository}/commit/{sha}",
        "comments_url": f"{api}/commits/{sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{sha}",
            "author": {
                "name": commit["author"],
                "email": commit["email"],
                "date": commit["authored"],
            },
            "committer": {
                "name": commit["committer"],
                "email": commit["cemail"],
                "date": commit["dated"],
            },
            "message": commit["message"].rstrip("\n"),
            "comment_count": 0,
            "tree": {"sha": commit["tree"], "url": f"{api}/git/trees/{commit['tree']}"},
        },
        "author": None,
        "committer": None,
        "parents": [
            {"sha": parent, "url": f"{api}/commits/{parent}"}
            for parent in commit["parents"].split()
        ],
    }


def comparison(
    state: GitHubState, repository: str, base: str, head: str, common: str
) -> payloads.JSON:
    """The CommitComparison of two commit shas of `repository` whose merge base is `common`."""
    bare = state.repositories[repository].path
    ahead = commits(bare, f"{common}..{head}")
    behind = commits(bare, f"{common}..{base}")
    status = ("diverged" if ahead else "behind") if behind else ("ahead" if ahead else "identical")
    files = gitrepo.changed_files(bare, base, head)[:MAX_FILES]
    html = f"{state.web_root}/{repository}/compare/{base}...{head}"
    return {
        "url": f"{state.base_url}/repos/{repository}/compare/{base}...{head}",
        "html_url": html,
        "permalink_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "base_commit": commit_json(state, repository, commits(bare, "-1", base)[0]),
        "merge_base_commit": commit_json(state, repository, commits(bare, "-1", common)[0]),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [commit_json(state, repository, commit) for commit in ahead],
        "files": [payloads_pulls.diff_entry(state, repository, f) for f in files],
    }


async def compare(request: Request) -> Response:
    """`base...head` with commit shas or branch names; GitHub's 404 for anything it cannot find."""
    require(request, "contents", "read")
    state = state_of(request)
    repository = repo_name(request)
    base_name, separator, head_name = request.path_params["basehead"].partition("...")
    bare = state.repositories[repository].path
    base = await asyncio.to_thread(resolve, bare, base_name)
    head = await asyncio.to_thread(resolve, bare, head_name)
    if not separator or base is None or head is None:
        raise not_found()
    common = await asyncio.to_thread(merge_base, bare, base, head)
    if common is None:
        raise not_found()
    return answer(await asyncio.to_thread(comparison, state, repository, base, head, common))


ROUTES = [
    Route("/repos/{owner}/{repo}/compare/{basehead:path}", compare, methods=["GET"]),
]
