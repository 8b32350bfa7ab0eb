"""GitHub's JSON shapes for pull requests, reviews and check runs."""

from __future__ import annotations

from tests.fakes.github.gitrepo import ChangedFile
from tests.fakes.github.payloads import JSON, app, iso, label, node_id, repository, user
from tests.fakes.github.records import CheckRun, PullRequest, Repository, Review
from tests.fakes.github.state import GitHubState


def _branch(state: GitHubState, repo: Repository, ref: str, sha: str) -> JSON:
    return {
        "label": f"{repo.owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(state, repo.owner),
        "repo": repository(state, repo),
    }


def pull_request(
    state: GitHubState, pull: PullRequest, shas: tuple[str, str], full: bool = True
) -> JSON:
    """A PullRequest (or PullRequestSimple when not `full`); `shas` = (head sha, base sha)."""
    item = state.issues[(pull.repository, pull.number)]
    repo = state.repositories[pull.repository]
    api = f"{state.base_url}/repos/{pull.repository}/pulls/{pull.number}"
    issue_api = f"{state.base_url}/repos/{pull.repository}/issues/{pull.number}"
    html = f"{state.web_root}/{pull.repository}/pull/{pull.number}"
    links = {
        "self": api,
        "html": html,
        "issue": issue_api,
        "comments": f"{issue_api}/comments",
        "review_comments": f"{api}/comments",
        "review_comment": f"{state.base_url}/repos/{pull.repository}/pulls/comments{{/number}}",
        "commits": f"{api}/commits",
        "statuses": f"{state.base_url}/repos/{pull.repository}/statuses/{shas[0]}",
    }
    body: JSON = {
        "url": api,
        "id": pull.id,
        "node_id": node_id("PR", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": pull.number,
        "state": item.state,
        "locked": False,
        "title": item.title,
        "user": user(state, item.user),
        "body": item.body,
        "labels": [label(state, pull.repository, name) for name in item.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at),
        "merged_at": iso(item.closed_at) if pull.merged else None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _branch(
            state, state.repositories[pull.head_repository or pull.repository], pull.head, shas[0]
        ),
        "base": _branch(state, repo, pull.base, shas[1]),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": "NONE" if item.user.endswith("[bot]") else "OWNER",
        "auto_merge": None,
        "draft": pull.draft,
    }
    if full:
        body.update(
            merged=pull.merged,
            mergeable=True,
            rebaseable=True,
            mergeable_state="clean",
            merged_by=None,
            comments=len(state.issue_comments(pull.repository, pull.number)),
            review_comments=sum(
                len(r.comments) for r in state.pull_reviews(pull.repository, pull.number)
            ),
            maintainer_can_modify=pull.maintainer_can_modify,
            commits=1,
            additions=0,
            deletions=0,
            changed_files=0,
        )
    return body


def diff_entry(state: GitHubState, repository: str, changed: ChangedFile) -> JSON:
    """One changed file (DiffEntry), as a pull request's files and a comparison list them."""
    raw = f"{state.web_root}/{repository}/raw"
    return {
        "sha": changed.blob_sha,
        "filename": changed.filename,
        "status": changed.status,
        "additions": changed.additions,
        "deletions": changed.deletions,
        "changes": changed.additions + changed.deletions,
        "blob_url": f"{state.web_root}/{repository}/blob/{changed.blob_sha}/{changed.filename}",
        "raw_url": f"{raw}/{changed.blob_sha}/{changed.filename}",
        "contents_url": f"{state.base_url}/repos/{repository}/contents/{changed.filename}",
        "patch": changed.patch,
    }


def review(state: GitHubState, item: Review) -> JSON:
    pull_api = f"{state.base_url}/repos/{item.repository}/pulls/{item.pull_number}"
    html = f"{state.web_root}/{item.repository}/pull/{item.pull_number}#pullrequestreview-{item.id}"
    return {
        "id": item.id,
        "node_id": node_id("PRR", item.id),
        "user": user(state, item.user),
        "body": item.body,
        "state": item.state,
        "html_url": html,
        "pull_request_url": pull_api,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_api}},
        "submitted_at": iso(item.submitted_at),
        "commit_id": item.commit_id,
        "author_association": "NONE" if item.user.endswith("[bot]") else "OWNER",
    }


def check_run(state: GitHubState, item: CheckRun) -> JSON:
    api = f"{state.base_url}/repos/{item.repository}/check-runs/{item.id}"
    output = {
        "title": item.output.get("title"),
        "summary": item.output.get("summary"),
        "text": item.output.get("text"),
        "annotations_count": len(item.output.get("annotations") or []),  # type: ignore[arg-type]
        "annotations_url": f"{api}/annotations",
    }
    return {
        "id": item.id,
        "head_sha": item.head_sha,
        "node_id": node_id("CR", item.id),
        "external_id": item.external_id,
        "url": api,
        "html_url": f"{state.web_root}/{item.repository}/runs/{item.id}",
        "details_url": item.details_url,
        "status": item.status,
        "conclusion": item.conclusion,
        "started_at": iso(item.started_at),
        "completed_at": iso(item.completed_at),
        "output": output,
        "name": item.name,
        "check_suite": {"id": item.id + 500_000},
        "app": app(state),
        "pull_requests": [],
    }
