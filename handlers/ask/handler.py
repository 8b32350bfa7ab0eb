"""The question job: `@<slug> <question>` is answered in a comment, or a reply in the review thread.

Nothing is written but the answer: the commit is checked out read-only, Claude Code runs with
read-only tools, no branch is made and nothing is pushed. A 👀 on the question says it was seen
and the answer arrives as a new comment, so the people in the thread are notified when it is
there (an edited progress comment notifies nobody). A failure is said in words with what to do
next: in the review thread for a question asked there, on the issue or pull request otherwise.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from githubkit.exception import GitHubException

from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.failure import failure_comment, github_failure
from app.kinds import Words
from handlers.ask.answer import render_answer
from handlers.ask.github import Revision, post_answer, revision_to_read
from handlers.ask.prompt import build_question_prompt
from handlers.ask.question import Place, Question, question_of
from handlers.ask.run import run_claude
from handlers.common.reactions import acknowledge
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import run_stats, usage_record, without_secrets
from sandbox.git_errors import GitError
from sandbox.git_review import ReviewCheckout
from sandbox.runner import Outcome


def words_of(context: Context) -> Words:
    """The kind's words with the App's own mention as the way to ask again."""
    slug = context.settings.app_slug or context.app_slug
    ask = f"@{slug} <question>"
    return replace(
        context.kind.words,
        retry_command=ask,
        narrow=f"Ask a narrower question (name the file or function) with `{ask}`.",
    )


async def answer_question(event: WebhookEvent, context: Context) -> str:
    """Run Claude Code read-only at the commit the question is about, and post its answer."""
    question = question_of(event)
    words = words_of(context)
    context.require_sandbox()
    if question.place is not Place.REVIEW_THREAD:
        await acknowledge(event, context)
    try:
        return await read_and_answer(context, question, words)
    except (JobFailed, GitError, GitHubException) as error:
        reason, next_step = failure_of(error, words)
        context.log.info("ask.failed", reason=reason)
        if question.anchor is None:
            raise JobFailed(reason, next_step) from None
        # Said where the question was asked; if even that fails, the worker says it on the PR.
        body = failure_comment(context.job, words, reason, next_step)
        try:
            await post_answer(context, question, body)
        except GitHubException:
            raise JobFailed(reason, next_step) from None
        raise JobFailed(reason, next_step, reported=True) from None


async def read_and_answer(context: Context, question: Question, words: Words) -> str:
    started = time.monotonic()
    settings = context.settings
    revision = await revision_to_read(context, question)
    await context.record("ask.commit", {"sha": revision.sha, "place": str(question.place)})
    checkout: ReviewCheckout | None = None
    try:
        checkout = await context.workspaces.check_out(
            clone_url=revision.clone_url, token=await context.git_token(), sha=revision.sha
        )
        # Cleaning text anyone wrote costs CPU: off the event loop, which also serves the intake.
        prompt = await asyncio.to_thread(
            build_question_prompt,
            question,
            repository=context.job.repository,
            revision=f"commit {revision.sha}, {revision.described}",
        )
        result, model = await run_claude(context, checkout, prompt)
    finally:
        if checkout is not None:
            await context.workspaces.remove_checkout(checkout)
    result = without_secrets(result, settings.secret_values())
    stats = run_stats(result, model or settings.model, time.monotonic() - started, settings)
    await context.set_usage(usage_record(stats))
    if result.outcome is not Outcome.SUCCESS:
        raise JobFailed(*run_failure(result, settings, words))
    body = render_answer(
        question, result.summary, read_at=read_at(revision), stats=stats, job_id=context.job.id
    )
    where = await post_answer(context, question, body)
    context.log.info("ask.answered", place=str(question.place), sha=revision.sha, url=where)
    return f"answered in the {question.place} at {revision.sha[:12]}"


def read_at(revision: Revision) -> str:
    return f"`{revision.sha[:12]}` ({revision.described})"


def failure_of(error: JobFailed | GitError | GitHubException, words: Words) -> tuple[str, str]:
    """(reason, next step) in words, each ending with how to ask again."""
    if isinstance(error, JobFailed):
        return error.reason, error.next_step or words.retry_hint
    if isinstance(error, GitError):
        return (
            f"git could not fetch the commit to read: {error}",
            f"{words.retry_hint.removesuffix('.')} (a pull request's head force-pushed away "
            "since the question is gone; the new head is read then).",
        )
    reason, next_step = github_failure(error)
    return reason, f"{next_step} {words.retry_hint}".strip()
