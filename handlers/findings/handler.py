"""Checking a pull request's open findings against its new head: a comparison per reviewed
commit, the findings whose lines changed marked addressed (once each), and counted."""

from __future__ import annotations

from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.store.outcomes import PostedFinding
from handlers.findings.addressed import FileChange, addressed


async def check_findings(event: WebhookEvent, context: Context) -> str:
    """Mark what the push addressed; nothing is read from GitHub when no finding is open."""
    job = context.job
    number = job.number or 0
    after = str(event.payload.get("after") or "")
    try:
        waiting = await context.store.open_review_findings(job.repository, number)
        if not waiting:
            return "no open finding"
        done: list[PostedFinding] = []
        for commit in sorted({item.commit_sha for item in waiting}):
            if commit == after:
                continue
            changes = await compared_changes(context, commit, after)
            done.extend(addressed([i for i in waiting if i.commit_sha == commit], changes))
        marked = await context.store.mark_findings_addressed(
            [(item.job_id, item.position) for item in done], after
        )
    except Exception as error:  # nobody asked for this job: no thread hears of it
        context.log.error("findings.not_checked", error=repr(error))
        reason = f"the findings were not checked ({type(error).__name__})"
        raise JobFailed(reason, reported=True) from error
    if context.metrics is not None and marked:
        context.metrics.review_findings.labels(state="addressed").inc(marked)
    return f"{marked} of {len(waiting)} open findings addressed"


async def compared_changes(context: Context, base: str, head: str) -> dict[str, FileChange]:
    """The files changed from the reviewed commit to the new head, by their path at the
    reviewed commit (a renamed file under its old name)."""
    owner, name = context.owner_and_name
    response = await context.github.rest.repos.async_compare_commits(
        owner, name, f"{base}...{head}"
    )
    changes: dict[str, FileChange] = {}
    for item in response.parsed_data.files or []:
        path = item.previous_filename if item.status == "renamed" else item.filename
        changes[path or item.filename] = FileChange(item.status, item.patch or None)
    return changes
