"""GitHub's JSON shapes for the fake's objects: full objects, as the REST API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fakes.github.state import (
    AccessToken,
    CheckRun,
    Comment,
    GitHubState,
    Installation,
    Issue,
    PullRequest,
    Reaction,
    Repository,
    Review,
)

JSON = dict[str, Any]
DOCS = "https://docs.github.com/rest"


def iso(moment: datetime | None) -> str | None:
    """GitHub's timestamp format: `2024-05-01T12:00:00Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def node_id(kind: str, number: int) -> str:
    return f"{kind}_kgDO{number:08d}"


def error(message: str, **extra: Any) -> JSON:
    """GitHub's error body."""
    return {"message": message, "documentation_url": DOCS, **extra}


def user(state: GitHubState, login: str) -> JSON:
    """A complete SimpleUser."""
    who = state.user(login)
    api = f"{state.base_url}/users/{login}"
    return {
        "login": who.login,
        "id": who.id,
        "node_id": node_id("U", who.id),
        "avatar_url": f"{state.base_url}/avatars/u/{who.id}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{state.base_url}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": who.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def app(state: GitHubState) -> JSON:
    """The App itself (an Integration)."""
    owner = next(iter(state.installations.values())).account if state.installations else "octo"
    return {
        "id": state.app_id,
        "slug": state.app_slug,
        "client_id": f"Iv1.{state.app_id:016x}",
        "node_id": node_id("A", state.app_id),
        "owner": user(state, owner),
        "name": state.app_slug,
        "description": "Puts Claude Code to work on issues and pull requests",
        "external_url": f"{state.base_url}/apps/{state.app_slug}",
        "html_url": f"{state.base_url}/apps/{state.app_slug}",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {
            "checks": "write",
            "contents": "write",
            "issues": "write",
            "metadata": "read",
            "pull_requests": "write",
        },
        "events": ["issue_comment", "issues", "pull_request"],
        "installations_count": len(state.installations),
    }


def installation(state: GitHubState, inst: Installation) -> JSON:
    account = state.user(inst.account)
    return {
        "id": inst.id,
        "account": user(state, inst.account),
        "repository_selection": inst.repository_selection,
        "access_tokens_url": f"{state.base_url}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{state.base_url}/installation/repositories",
        "html_url": f"{state.base_url}/organizations/{inst.account}/settings/installations/{inst.id}",
        "app_id": state.app_id,
        "app_slug": state.app_slug,
        "target_id": account.id,
        "target_type": account.type,
        "permissions": inst.permissions,
        "events": inst.events,
        "created_at": iso(inst.created_at),
        "updated_at": iso(inst.created_at),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def access_token(state: GitHubState, token: AccessToken) -> JSON:
    body: JSON = {
        "token": token.token,
        "expires_at": iso(token.expires_at),
        "permissions": token.permissions,
        "repository_selection": "selected"
        if token.requested_repositories is not None
        else state.installations[token.installation_id].repository_selection,
    }
    if token.requested_repositories is not None:
        body["repositories"] = [
            repository(state, state.repositories[name]) for name in token.repositories
        ]
    return body


def repository(state: GitHubState, repo: Repository, full: bool = False) -> JSON:
    """A Repository, or a FullRepository when `full`."""
    api = f"{state.base_url}/repos/{repo.full_name}"
    html = f"{state.base_url}/{repo.full_name}"
    body: JSON = {
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user(state, repo.owner),
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": html,
        "description": f"The {repo.name} project",
        "fork": False,
        "url": api,
        "clone_url": f"{html}.git",
        "git_url": f"git:{html.split(':', 1)[1]}.git",
        "ssh_url": f"git@localhost:{repo.full_name}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "license": None,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 1,
        "default_branch": repo.default_branch,
        "open_issues_count": 0,
        "open_issues": 0,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "pushed_at": iso(repo.created_at),
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at),
        "allow_forking": True,
        "web_commit_signoff_required": False,
    }
    for name, suffix in _REPO_URLS.items():
        body[f"{name}_url"] = f"{api}/{suffix}"
    if full:
        body.update(subscribers_count=0, network_count=0, temp_clone_token=None)
    return body


_REPO_URLS = {
    "archive": "{archive_format}{/ref}",
    "assignees": "assignees{/user}",
    "blobs": "git/blobs{/sha}",
    "branches": "branches{/branch}",
    "collaborators": "collaborators{/collaborator}",
    "comments": "comments{/number}",
    "commits": "commits{/sha}",
    "compare": "compare/{base}...{head}",
    "contents": "contents/{+path}",
    "contributors": "contributors",
    "deployments": "deployments",
    "downloads": "downloads",
    "events": "events",
    "forks": "forks",
    "git_commits": "git/commits{/sha}",
    "git_refs": "git/refs{/sha}",
    "git_tags": "git/tags{/sha}",
    "hooks": "hooks",
    "issue_comment": "issues/comments{/number}",
    "issue_events": "issues/events{/number}",
    "issues": "issues{/number}",
    "keys": "keys{/key_id}",
    "labels": "labels{/name}",
    "languages": "languages",
    "merges": "merges",
    "milestones": "milestones{/number}",
    "notifications": "notifications{?since,all,participating}",
    "pulls": "pulls{/number}",
    "releases": "releases{/id}",
    "stargazers": "stargazers",
    "statuses": "statuses/{sha}",
    "subscribers": "subscribers",
    "subscription": "subscription",
    "tags": "tags",
    "teams": "teams",
    "trees": "git/trees{/sha}",
}


def label(state: GitHubState, repository: str, name: str) -> JSON:
    number = sum(ord(c) for c in f"{repository}:{name}") * 7919
    return {
        "id": number,
        "node_id": node_id("LA", number),
        "url": f"{state.base_url}/repos/{repository}/labels/{name}",
        "name": name,
        "description": None,
        "color": "ededed",
        "default": False,
        "archived_at": None,
        "archived_by": None,
    }


def issue(state: GitHubState, item: Issue) -> JSON:
    api = f"{state.base_url}/repos/{item.repository}/issues/{item.number}"
    kind = "pull" if item.is_pull_request else "issues"
    body: JSON = {
        "id": item.id,
        "node_id": node_id("I", item.id),
        "url": api,
        "repository_url": f"{state.base_url}/repos/{item.repository}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{state.base_url}/{item.repository}/{kind}/{item.number}",
        "number": item.number,
        "state": item.state,
        "state_reason": None,
        "title": item.title,
        "body": item.body,
        "user": user(state, item.user),
        "labels": [label(state, item.repository, name) for name in item.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(state.issue_comments(item.repository, item.number)),
        "closed_at": iso(item.closed_at),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "author_association": "OWNER",
    }
    if item.is_pull_request:
        pulls = f"{state.base_url}/repos/{item.repository}/pulls/{item.number}"
        body["pull_request"] = {
            "url": pulls,
            "html_url": body["html_url"],
            "diff_url": f"{body['html_url']}.diff",
            "patch_url": f"{body['html_url']}.patch",
            "merged_at": None,
        }
    return body


def comment(state: GitHubState, item: Comment) -> JSON:
    api = f"{state.base_url}/repos/{item.repository}/issues/comments/{item.id}"
    issue_api = f"{state.base_url}/repos/{item.repository}/issues/{item.issue_number}"
    return {
        "id": item.id,
        "node_id": node_id("IC", item.id),
        "url": api,
        "html_url": f"{state.base_url}/{item.repository}/issues/{item.issue_number}"
        f"#issuecomment-{item.id}",
        "body": item.body,
        "user": user(state, item.user),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "issue_url": issue_api,
        "author_association": "NONE" if item.user.endswith("[bot]") else "OWNER",
    }


def reaction(state: GitHubState, item: Reaction) -> JSON:
    return {
        "id": item.id,
        "node_id": node_id("REA", item.id),
        "user": user(state, item.user),
        "content": item.content,
        "created_at": iso(item.created_at),
    }


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
    html = f"{state.base_url}/{pull.repository}/pull/{pull.number}"
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
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _branch(state, repo, pull.head, shas[0]),
        "base": _branch(state, repo, pull.base, shas[1]),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": "NONE" if item.user.endswith("[bot]") else "OWNER",
        "auto_merge": None,
        "draft": pull.draft,
    }
    if full:
        body.update(
            merged=False,
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


def review(state: GitHubState, item: Review) -> JSON:
    pull_api = f"{state.base_url}/repos/{item.repository}/pulls/{item.pull_number}"
    html = f"{state.base_url}/{item.repository}/pull/{item.pull_number}#pullrequestreview-{item.id}"
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
        "html_url": f"{state.base_url}/{item.repository}/runs/{item.id}",
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
