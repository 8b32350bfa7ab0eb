"""Reactions fixwright leaves on the comment or issue that triggered a job: best effort only.

A reaction only says "seen". When GitHub refuses it (the comment was deleted meanwhile, the issue
is locked, a moment's outage), the job goes on and the log says why the 👀 is missing.
"""

from __future__ import annotations

from githubkit.exception import GitHubException

from app.context import Context
from app.events import WebhookEvent

WHY_REFUSED = {
    404: "the comment or issue no longer exists (deleted after the trigger)",
    410: "the comment or issue no longer exists (deleted after the trigger)",
    403: "GitHub forbade it (a locked conversation, or a missing permission)",
}


def why_no_reaction(status: int | None) -> str:
    """Why GitHub did not take the reaction, in words for the log."""
    return WHY_REFUSED.get(status or 0, "GitHub could not take it just now")


async def acknowledge(event: WebhookEvent, context: Context) -> bool:
    """👀 on the triggering comment, or on the issue when a label triggered; False if refused."""
    owner, name = context.owner_and_name
    reactions = context.github.rest.reactions
    try:
        if event.comment_id is not None:
            await reactions.async_create_for_issue_comment(
                owner, name, event.comment_id, content="eyes"
            )
        else:
            await reactions.async_create_for_issue(
                owner, name, event.issue_number or 0, content="eyes"
            )
    except GitHubException as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        context.log.warning(
            "reaction.skipped",
            reason=why_no_reaction(status),
            on="comment" if event.comment_id is not None else "issue",
            error=type(error).__name__,
            status=status,
        )
        return False
    return True
