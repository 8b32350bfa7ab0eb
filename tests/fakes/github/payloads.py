"""GitHub's JSON shapes for the fake's objects: full objects, as the REST API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fakes.github.records import (
    AccessToken,
    Installation,
    Repository,
    now,
)
from tests.fakes.github.state import GitHubState

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
        "avatar_url": f"{state.web_root}/avatars/u/{who.id}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{state.web_root}/{login}",
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


def public_user(state: GitHubState, login: str) -> JSON:
    """A PublicUser, as `GET /users/{login}` returns it."""
    return {
        **user(state, login),
        "name": None,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": iso(now()),
    }


def app(state: GitHubState) -> JSON:
    """The App itself (an Integration). Its page is `/apps/<slug>` on github.com and
    `/github-apps/<slug>` on GitHub Enterprise Server (the fake's web root differs there)."""
    page = f"{state.web_root}/{'github-apps' if state.web_url else 'apps'}/{state.app_slug}"
    owner = next(iter(state.installations.values())).account if state.installations else "octo"
    return {
        "id": state.app_id,
        "slug": state.app_slug,
        "client_id": f"Iv1.{state.app_id:016x}",
        "node_id": node_id("A", state.app_id),
        "owner": user(state, owner),
        "name": state.app_slug,
        "description": "Puts Claude Code to work on issues and pull requests",
        "external_url": page,
        "html_url": page,
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
        "html_url": f"{state.web_root}/organizations/{inst.account}/settings/installations/{inst.id}",
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
    html = f"{state.web_root}/{repo.full_name}"
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
