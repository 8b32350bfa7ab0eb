"""GitHub's JSON shapes for issues, their comments and reactions."""

from __future__ import annotations

from tests.fakes.github.payloads import JSON, iso, label, node_id, user
from tests.fakes.github.records import Comment, Issue, Reaction
from tests.fakes.github.state import GitHubState


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
        "html_url": f"{state.web_root}/{item.repository}/{kind}/{item.number}",
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
        "html_url": f"{state.web_root}/{item.repository}/issues/{item.issue_number}"
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
