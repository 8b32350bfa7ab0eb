"""The GitHub reads and writes of a question: which commit to read, and where the answer goes."""

from __future__ import annotations

from dataclasses import dataclass

from app.context import Context
from app.github_urls import git_url
from handlers.ask.question import Place, Question
from handlers.common.check_runs import branch_head_sha
from handlers.common.untrusted_text import code_safe


@dataclass(frozen=True)
class Revision:
    """The commit a question is answered at, where git fetches it, and how the answer names it."""

    sha: str
    clone_url: str
    described: str  # "the head of `main`", "the head of pull request #7"


async def revision_to_read(context: Context, question: Question) -> Revision:
    """An issue's question reads the default branch's head; a pull request's reads its head
    commit, fetched from the base repository by its sha (so a fork's pull request reads too)."""
    owner, name = context.owner_and_name
    github = context.github
    if question.place is Place.ISSUE:
        repository = (await github.rest.repos.async_get(owner, name)).parsed_data
        branch = repository.default_branch
        sha = await branch_head_sha(github, context.job.repository, branch)
        clone_url = git_url(repository.clone_url, context.settings)
        return Revision(sha, clone_url, f"the head of `{code_safe(branch)}`")
    pull = (await github.rest.pulls.async_get(owner, name, question.number)).parsed_data
    return Revision(
        pull.head.sha,
        git_url(pull.base.repo.clone_url, context.settings),
        f"the head of pull request #{pull.number}",
    )


async def post_answer(context: Context, question: Question, body: str) -> str:
    """The answer as a comment on the issue or pull request, or as a reply in the review thread;
    returns its address."""
    owner, name = context.owner_and_name
    github = context.github
    if question.anchor is not None:
        reply = await github.rest.pulls.async_create_reply_for_review_comment(
            owner, name, question.number, question.anchor.reply_to, data={"body": body}
        )
        return reply.parsed_data.html_url
    comment = await github.rest.issues.async_create_comment(owner, name, question.number, body=body)
    return comment.parsed_data.html_url
