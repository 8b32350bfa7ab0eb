"""`/help`: what fixwright can be asked to do, answered in the thread."""

from __future__ import annotations

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.notices import Notice, post_notice_once
from app.routing import Router
from app.store import NewJob
from handlers.common.commands import command_of, job_for

router = Router()

HELP_MARKER = "<!-- fixwright:help -->"


def help_text(settings: Settings) -> str:
    """The help comment: every command and the label, with what each does."""
    return (
        f"{HELP_MARKER}\n"
        "**fixwright** puts Claude Code to work on this repository. Commands (people with write "
        "access only):\n\n"
        "| command | where | what it does |\n"
        "| --- | --- | --- |\n"
        f"| add the `{settings.trigger_label}` label | issue | opens a draft pull request that "
        "fixes the issue |\n"
        "| `/fix [instructions]` | issue | the same, with extra instructions |\n"
        "| `/review` | pull request | posts a review with comments on the changed lines |\n"
        "| `/cancel` (or remove the label) | issue or pull request | stops the running job and "
        "removes its sandbox |\n"
        "| `/help` | anywhere | this message |\n"
    )


@router.trigger("issue_comment", "created")
def plan_help(event: WebhookEvent, settings: Settings) -> NewJob | None:
    command = command_of(event)
    if command is None or command.name != "help":
        return None
    return job_for(event, "help", settings)


@router.job("help", permissions={"issues": "write", "metadata": "read"})
async def post_help(event: WebhookEvent, context: Context) -> str:
    """Answer `/help` with the list of commands, once an hour for each person on each issue."""
    del event
    job = context.job
    answer = Notice(
        job.repository, job.number or 0, job.requested_by, "help", help_text(context.settings)
    )
    if await post_notice_once(context.store, context.github, answer, context.log):
        return "posted help"
    return "help not posted again: answered within the hour"
