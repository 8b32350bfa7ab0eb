"""When a task ends (its worker finished it, or it was cancelled before it ran): its
credentials are let go, and its webhook, if it has one, is queued."""

from __future__ import annotations

from app import task_secrets
from app.log import get_logger
from app.outgoing_webhooks import WebhookState, deliver_task_webhook
from app.store.model import Job


async def task_ended(state: WebhookState, job: Job) -> None:
    """Called for every job that ends; a job without a task row (a webhook's) queues nothing.
    A failure here is logged: the job has ended all the same."""
    task_secrets.forget(job.id)
    try:
        await deliver_task_webhook(state, job)
    except Exception as error:  # the job's end stands; the log says what was not queued
        get_logger().warning("task.webhook_not_queued", job_id=job.id, error=repr(error)[:300])
