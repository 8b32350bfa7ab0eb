"""The GitHub look-ups a fix needs: the repository's default branch, the issue's comments, identities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.context import Context
from app.github_urls import git_url
from handlers.common.check_runs import branch_head_sha

PAGE_SIZE = 100


@dataclass(frozen=True)
class FixTarget:
    """Where the fix starts: the default branch, its head commit, and how to clone it."""

    default_branch: str
    head_sha: str
    clone_url: str
    issue_title: str
    issue_number: int


async def load_target(context: Context) -> FixTarget:
    owner, name = context.owner_and_name
    github = context.github
    repository = (await github.rest.repos.async_get(owner, name)).parsed_data
    issue = context.job.payload.get("payload", {}).get("issue", {})
    return FixTarget(
        default_branch=repository.default_branch,
        head_sha=await branch_head_sha(github, context.job.repository, repository.default_branch),
        clone_url=git_url(repository.clone_url, context.settings),
        issue_title=str(issue.get("title") or ""),
        issue_number=context.job.number or 0,
    )


async def issue_comments(context: Context, number: int) -> list[dict[str, Any]]:
    """Every comment on the issue, oldest first, as GitHub sent them."""
    owner, name = context.owner_and_name
    comments: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await context.github.rest.issues.async_list_comments(
            owner, name, number, per_page=PAGE_SIZE, page=page
        )
        batch = response.json()
        comments.extend(batch)
        if len(batch) < PAGE_SIZE:
            return comments
        page += 1


async def noreply_identity(context: Context, login: str) -> tuple[str, str]:
    """(name, email) GitHub attributes to `login`: its private no-reply address."""
    user = (await context.github.rest.users.async_get_by_username(login)).parsed_data
    return login, f"{user.id}+{login}@users.noreply.github.com"


async def bot_identity(context: Context) -> tuple[str, str]:
    """The App's bot account, so commits show as made by the App."""
    return await noreply_identity(context, f"{context.app_slug}[bot]")
