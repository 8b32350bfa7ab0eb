"""`/help`: what fixwright can be asked to do, answered in the thread from every kind's own lines."""

from __future__ import annotations

from collections.abc import Iterable

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.kinds import JobKind
from app.notices import Notice, post_notice_once
from app.store import NewJob
from handlers.common.commands import command_of, job_for

NAME = "help"
HELP_MARKER = "<!-- fixwright:help -->"


def help_text(settings: Settings, kinds: Iterable[JobKind]) -> str:
    """The help comment: every command and the label, with what each does."""
    rows = [line.row(settings) for kind in kinds for line in kind.help]
    return (
        f"{HELP_MARKER}\n"
        "**fixwright** puts Claude Code to work on this repository. Commands (people with write "
        "access only):\n\n"
        "| command | where | what it does |\n"
        "| --- | --- | --- |\n" + "".join(row + "\n" for row in rows)
    )


def plan_help(event: WebhookEvent, settings: Settings) -> NewJob | None:
    del settings
    command = command_of(event)
    if command is None or command.name != NAME:
        return None
    return job_for(event, NAME)


async def post_help(event: WebhookEvent, context: Context) -> str:
    """Answer `/help` with the list of commands, once an hour for each person on each issue."""
    del event
    job = context.job
    text = help_text(context.settings, context.kinds.values())
    answer = Notice(job.repository, job.number or 0, job.requested_by, "help", text)
    if await post_notice_once(context.store, context.github, answer, context.log):
        return "posted help"
    return "help not posted again: answered within the hour"
