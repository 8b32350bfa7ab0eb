"""The GitHub reads and writes of a review: the PR, its files, earlier comments, the review itself.

The pull request is read once, when the job starts; everything after that names the commits it
had then (the files of exactly that comparison, the review on exactly that head commit), so a
push while the job runs changes nothing about what is reviewed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from githubkit.exception import RequestFailed

from app.context import Context
from app.github_urls import git_url
from handlers.review.diff import ChangedFile
from handlers.review.fingerprints import fingerprints_in
from handlers.review.prompt import PullSnapshot

if TYPE_CHECKING:
    from githubkit.rest.paginator import Paginator
    from githubkit_schemas.latest.models import PullRequestReview, PullRequestReviewComment

    from handlers.review.render import ReviewComment

PAGE_SIZE = 100


async def load_pull(context: Context, number: int) -> tuple[PullSnapshot, str]:
    """The pull request as it is now, and the base repository's clone URL (it holds the head)."""
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
        base_sha=pull.base.sha,
    )
    return snapshot, git_url(pull.base.repo.clone_url, context.settings)


async def compared_files(context: Context, base_sha: str, head_sha: str) -> list[ChangedFile]:
    """The files `head_sha` changes since its merge base with `base_sha`, in GitHub's order.

    That is the pull request's diff at those two commits, whatever either branch holds by now.
    GitHub lists up to 300 files of a comparison; a review takes far fewer (`MAX_FILES`).
    """
    owner, name = context.owner_and_name
    response = await context.github.rest.repos.async_compare_commits(
        owner, name, f"{base_sha}...{head_sha}"
    )
    return [
        ChangedFile(
            path=item.filename,
            status=item.status,
            additions=item.additions,
            deletions=item.deletions,
            patch=item.patch or None,
        )
        for item in response.parsed_data.files or []
    ]


async def posted_fingerprints(context: Context, number: int, bot_login: str) -> set[str]:
    """Fingerprints of the findings the App already posted as review comments on this PR."""
    owner, name = context.owner_and_name
    github = context.github
    bodies: list[str] = []
    # githubkit's PullsClient has a method named `list`, which hides the builtin in its
    # annotations (yanyongyu/githubkit#184): mypy cannot infer the pages' type.
    pages: Paginator[PullRequestReviewComment] = github.rest.paginate(
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
    context: Context, number: int, *, commit_id: str, body: str, comments: list[ReviewComment]
) -> PullRequestReview:
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
