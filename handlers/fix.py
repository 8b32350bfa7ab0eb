"""The fix job: a maintainer labels an issue (or comments `/fix`) and fixwright takes it up."""

from __future__ import annotations

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.routing import Router
from app.store import NewJob
from handlers.commands import command_of, is_human_trigger, job_for
from handlers.reactions import acknowledge

router = Router()

FIX_PERMISSIONS = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "metadata": "read",
}


@router.trigger("issues", "labeled")
def plan_fix_from_label(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """The trigger label was added to an issue by a human."""
    if event.label_name != settings.trigger_label or not is_human_trigger(event):
        return None
    if event.is_pull_request:
        return None
    return job_for(event, "fix", settings)


@router.trigger("issue_comment", "created")
def plan_fix_from_comment(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/fix [instructions]` on an issue."""
    command = command_of(event)
    if command is None or command.name != "fix" or event.is_pull_request:
        return None
    return job_for(event, "fix", settings)


@router.job("fix", permissions=FIX_PERMISSIONS)
async def fix_issue(event: WebhookEvent, context: Context) -> str:
    """Take the issue up: the 👀 reaction tells the maintainer it was seen."""
    await acknowledge(event, context)
    return "acknowledged"
