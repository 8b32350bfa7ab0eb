"""What a scheduled task says on GitHub when its schedule asked for a comment or an issue
rather than a pull request: Claude's summary, made inert and redacted, naming the schedule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.context import Context
from handlers.common.untrusted_text import code_safe, defang
from sandbox.redaction import redact_text

SUMMARY_LIMIT = 4000
TITLE_LIMIT = 72


def schedule_of(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schedule that queued the job ({} for a task from the API)."""
    schedule = payload.get("schedule")
    return schedule if isinstance(schedule, Mapping) else {}


def report_body(schedule_name: str, job_id: str, summary: str, outcome: str) -> str:
    return (
        f"fixwright ran the schedule `{code_safe(schedule_name)}` (task `{job_id}`): {outcome}."
        f"\n\n{defang(summary.strip()[:SUMMARY_LIMIT])}"
    )


async def report_schedule_run(context: Context, outcome: str) -> None:
    """Comment on the schedule's issue, or open an issue, with the run's summary; nothing for a
    schedule whose output is a pull request, or for a task from the API."""
    job = context.job
    schedule = schedule_of(job.payload)
    output = schedule.get("output")
    if output not in ("issue_comment", "issue"):
        return
    stored = await context.store.task(job.id)
    summary = str((stored.result or {}).get("summary") or "") if stored else ""
    name = str(schedule.get("name") or "")
    secrets = tuple(context.settings.secret_values())
    body = redact_text(report_body(name, job.id, summary, outcome), secrets)
    owner, repository = context.owner_and_name
    if output == "issue_comment":
        await context.github.rest.issues.async_create_comment(
            owner, repository, int(schedule["issue"]), body=body
        )
        return
    title = redact_text(defang(f"fixwright schedule {name}"[:TITLE_LIMIT]), secrets)
    await context.github.rest.issues.async_create(owner, repository, title=title, body=body)
