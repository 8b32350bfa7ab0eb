"""The GitHub reads and writes of a review: the PR, its files, earlier comments, the review itself."""

from __future__ import annotations

from typing import Any

from githubkit.exception import RequestFailed

from app.context import Context
from handlers.review_diff import ChangedFile
from handlers.review_fingerprints import fingerprints_in
from handlers.review_prompt import PullSnapshot

PAGE_SIZE = 100
MAX_FILES_LISTED = 3_000  # GitHub lists at most 3,000 files of a pull request


async def load_pull(context: Context, number: int) -> tuple[PullSnapshot, str]:
    """The pull request, and the base repository's clone URL (it holds `refs/pull/N/head`)."""
    owner, name = context.owner_and_name
    github = context.github
    pull = (await github.rest.pulls.async_get(owner, name, number)).parsed_data
    head_repo = pull.head.repo.full_name if pull.head.repo else ""
    snapshot = PullSnapshot(
        number=pull.number,
        title=pull.title,
        body=pull.body or "",
        author=pull.user.login if pull.user else "unknown",
        base_ref=pull.base.ref,
        head_ref=pull.head.label or pull.head.ref,
        head_sha=pull.head.sha,
        from_fork=head_repo != pull.base.repo.full_name,
    )
    return snapshot, pull.base.repo.clone_url


async def changed_files(context: Context, number: int) -> list[ChangedFile]:
    """The files the pull request changes, with their patches, in GitHub's order."""
    owner, name = context.owner_and_name
    github = context.github
    files: list[ChangedFile] = []
    pages = github.rest.paginate(
        github.rest.pulls.async_list_files,
        owner=owner,
        repo=name,
        pull_number=number,
        per_page=PAGE_SIZE,
    )
    async for item in pages:
        files.append(
            ChangedFile(
                path=item.filename,
                status=item.status,
                additions=item.additions,
                deletions=item.deletions,
                patch=item.patch or None,
            )
        )
        if len(files) >= MAX_FILES_LISTED:
            break
    return files


async def posted_fingerprints(context: Context, number: int, bot_login: str) -> set[str]:
    """Fingerprints of the findings the App already posted as review comments on this PR."""
    owner, name = context.owner_and_name
    github = context.github
    bodies: list[str] = []
    pages = github.rest.paginate(
        github.rest.pulls.async_list_review_comments,
        owner=owner,
        repo=name,
        pull_number=number,
        per_page=PAGE_SIZE,
    )
    async for comment in pages:
        if comment.user and comment.user.login == bot_login:
            bodies.append(comment.body)
    return fingerprints_in(bodies)


async def post_review(
    context: Context, number: int, *, commit_id: str, body: str, comments: list[dict[str, Any]]
) -> Any:
    """One review with event COMMENT: fixwright never approves and never requests changes."""
    owner, name = context.owner_and_name
    github = context.github
    response = await github.rest.pulls.async_create_review(
        owner,
        name,
        number,
        data={"commit_id": commit_id, "event": "COMMENT", "body": body, "comments": comments},
    )
    return response.parsed_data


def is_unprocessable(error: RequestFailed) -> bool:
    """GitHub's 422: here, an inline comment it could not place on the diff."""
    return error.response.status_code == 422
