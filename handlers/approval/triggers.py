"""What decides a request waiting for approval: `/approve` or `/deny [reason]` in its thread."""

from __future__ import annotations

import dataclasses

from app.config import Settings
from app.events import WebhookEvent
from app.store import NewJob
from handlers.common.commands import command_of, job_for

NAME = "approver"
COMMANDS = ("approve", "deny")
# Its jobs run beside the request they decide (a target of their own, as `/cancel` has).
TARGET_SUFFIX = "/approval"


def plan_decision(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/approve` or `/deny [reason]` on an issue or pull request."""
    del settings
    command = command_of(event)
    if command is None or command.name not in COMMANDS:
        return None
    job = job_for(event, NAME)
    return dataclasses.replace(job, target=job.target + TARGET_SUFFIX) if job else None
