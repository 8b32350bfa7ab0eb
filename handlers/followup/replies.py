"""Replies in the review threads a follow-up answered: each names the commit that addressed it."""

from __future__ import annotations

from githubkit.exception import GitHubException

from app.context import Context
from handlers.followup.request import FollowUpRequest


def reply_text(commit: str) -> str:
    if commit:
        return f"Addressed in {commit[:12]}."
    return "fixwright looked at this and changed nothing; its answer is in the progress comment."


async def reply_to_threads(
    context: Context, number: int, request: FollowUpRequest, commit: str
) -> None:
    """One reply in each thread the request came from (best effort: a thread deleted meanwhile
    is logged, not a failure of work already pushed)."""
    owner, name = context.owner_and_name
    threads = dict.fromkeys(comment.thread_id for comment in request.comments)
    for thread in threads:
        try:
            await context.github.rest.pulls.async_create_reply_for_review_comment(
                owner, name, number, thread, body=reply_text(commit)
            )
        except GitHubException as error:
            context.log.warning("followup.reply_skipped", thread=thread, error=type(error).__name__)
