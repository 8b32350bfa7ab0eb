"""Stopping work: `/cancel`, or removing the trigger label, stops the issue's queued and running jobs."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.store import NewJob
from handlers.common.audit import record_cancel
from handlers.common.commands import command_of, is_human_trigger, job_for

NAME = "cancel"

CANCEL_MARKER = "<!-- fixwright:cancelled -->"
# How long to wait for a running job's worker to notice and remove its container.
STOP_TIMEOUT_SECONDS = 60.0


def cancel_job_for(event: WebhookEvent) -> NewJob | None:
    """A cancel job runs beside the jobs it stops: its target is its own."""
    job = job_for(event, NAME)
    return dataclasses.replace(job, target=job.target + "/cancel") if job else None


def plan_cancel_command(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/cancel` on an issue or pull request."""
    del settings
    command = command_of(event)
    if command is None or command.name != "cancel":
        return None
    return cancel_job_for(event)


def plan_cancel_on_unlabel(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """The trigger label was removed by a human."""
    if event.label_name != settings.trigger_label or not is_human_trigger(event):
        return None
    return cancel_job_for(event)


def cancelled_text(actor: str, kinds: list[str]) -> str:
    stopped = ", ".join(f"the {kind} job" for kind in kinds)
    return (
        f"{CANCEL_MARKER}\n"
        f"🛑 Cancelled by @{actor}: stopped {stopped}; its sandbox container is gone and nothing "
        "more will be pushed. Add the label or comment `/fix` to start again."
    )


async def cancel_jobs(event: WebhookEvent, context: Context) -> str:
    """Cancel the target's other jobs, wait until they have stopped, and say who cancelled them."""
    job = context.job
    number = job.number or 0
    actor = job.requested_by
    target = job.target.removesuffix("/cancel")
    # Only what was asked for before this cancel: a label added again afterwards starts anew.
    active = [
        other
        for other in await context.store.active_jobs(target)
        if other.created_at < job.created_at
    ]
    if not active:
        if command_of(event) is not None:
            owner, name = context.owner_and_name
            await context.github.rest.issues.async_create_comment(
                owner,
                name,
                number,
                body=f"{CANCEL_MARKER}\n@{actor}, nothing is running here to cancel.",
            )
        return "nothing to cancel"
    how = "/cancel" if command_of(event) is not None else "the trigger label removed"
    for other in active:
        if await context.store.cancel(other.id, f"cancelled by @{actor}"):
            await record_cancel(context, other, how)
    await wait_until_stopped(context, [other.id for other in active])
    owner, name = context.owner_and_name
    await context.github.rest.issues.async_create_comment(
        owner,
        name,
        number,
        body=cancelled_text(actor, [noun_of(context, other.kind) for other in active]),
    )
    context.log.info("jobs.cancelled", by=actor, jobs=[other.id for other in active])
    return f"cancelled {len(active)} job(s)"


def noun_of(context: Context, kind: str) -> str:
    """What the thread calls a job of `kind` ("fix"), or its name for a kind no longer declared."""
    declared = context.kinds.get(kind)
    return declared.words.noun if declared else kind


async def wait_until_stopped(context: Context, job_ids: list[str]) -> None:
    """Until every cancelled job's worker has let go of it (and so removed its container)."""
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        jobs = [await context.store.get_job(job_id) for job_id in job_ids]
        if all(job is None or job.lease_owner is None for job in jobs):
            return
        await asyncio.sleep(0.5)
