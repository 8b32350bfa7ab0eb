"""What asks fixwright to revise a pull request: `/fix <instructions>` on it, or a review of one
of its own pull requests (with comments on lines, or changes requested).

GitHub wraps every line comment in a review, even a single one or a reply in a thread, and sends
`pull_request_review.submitted` for it beside `pull_request_review_comment.created`: the review is
the one trigger, so a review of five comments is one round, not five.
"""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent, dig
from app.store import NewJob
from handlers.common.commands import command_of, is_human_trigger, job_for

NAME = "followup"
FIX_COMMAND = "fix"
# "approved" asks for nothing; "dismissed" is another action.
REVIEW_STATES = frozenset({"changes_requested", "commented"})


def plan_followup_from_comment(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/fix [instructions]` on a pull request: the handler decides whether fixwright may push
    to it (its own, open, not from a fork) and says so when not."""
    del settings
    command = command_of(event)
    if command is None or command.name != FIX_COMMAND or not event.is_pull_request:
        return None
    return job_for(event, NAME)


def plan_followup_from_review(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """A submitted review that asks for something, on a branch fixwright pushes (or, when the
    operator allows it, any branch of the same repository): reviews of other pull requests
    queue nothing, so they never draw a refusal."""
    if not is_human_trigger(event) or dig(event.payload, "review", "state") not in REVIEW_STATES:
        return None
    head_ref = dig(event.payload, "pull_request", "head", "ref")
    head_repo = dig(event.payload, "pull_request", "head", "repo", "full_name")
    if not isinstance(head_ref, str) or head_repo != event.repository:
        return None
    if not (head_ref.startswith(settings.branch_prefix) or settings.followup_any_pull_request):
        return None
    return job_for(event, NAME)
