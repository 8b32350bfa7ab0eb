"""A task's change published when it asked for a pull request: checked for secrets, committed as
the App, pushed to the task's branch, and a draft pull request opened with a body of its own
(no issue: nothing to close, no `Fixes #`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.context import Context
from handlers.common.audit import record_push
from handlers.common.ci_files import CiTouch, ci_touches_at
from handlers.common.run_stats import render_run_stats
from handlers.common.untrusted_text import code_safe, defang
from handlers.common.verification import Verification, before_and_after, render_verification
from handlers.fix.publish import refuse_secrets
from handlers.fix.pull_requests import open_or_update_draft_pr
from handlers.fix.target import bot_identity
from handlers.fix.verify import Attempt
from handlers.outcomes.opened import record_opened
from handlers.task.schedule_output import schedule_of
from sandbox.git_workspace import JobWorkspace
from sandbox.redaction import redact_text

TITLE_LIMIT = 72
FILES_SHOWN = 50


def task_title(job_id: str, summary: str) -> str:
    """The first line of Claude's summary, made inert and short; the task's id otherwise."""
    first = " ".join(summary.strip().split("\n", 1)[0].split())
    if not first:
        return f"fixwright task {job_id[:12]}"
    return defang(first if len(first) <= TITLE_LIMIT else first[: TITLE_LIMIT - 1] + "…")


def task_body(
    job_id: str,
    summary: str,
    files: Sequence[str],
    attempt: Attempt,
    verification: Verification | None,
    touches: Sequence[CiTouch],
    secrets: Sequence[str],
    schedule: str = "",
) -> str:
    """What the pull request says: the task's id (and the schedule that ran it), Claude's
    summary, the files, the tests."""
    listed = "\n".join(f"- `{code_safe(path)}`" for path in files[:FILES_SHOWN])
    if len(files) > FILES_SHOWN:
        listed += f"\n- … and {len(files) - FILES_SHOWN} more"
    parts = [
        f"Opened by fixwright for task `{job_id}`, run by the schedule `{code_safe(schedule)}`."
        if schedule
        else f"Opened by fixwright for task `{job_id}`, created through its API.",
        "## Summary\n\n" + defang(summary.strip()[:4000]),
        "## Files changed\n\n" + listed,
    ]
    if touches:
        parts.append(
            "⚠️ This change touches files CI executes: "
            + ", ".join(f"`{code_safe(touch.path)}`" for touch in touches)
        )
    if verification is not None:
        parts.append(render_verification(verification, secrets, heading="## Verification"))
    parts.append(f"<sub>{render_run_stats(attempt.stats)}</sub>")
    return redact_text("\n\n".join(parts), tuple(secrets))


def commit_message(job_id: str, summary: str, secrets: Sequence[str]) -> str:
    return redact_text(
        f"fixwright task {job_id[:12]}\n\n{defang(summary.strip()[:2000])}", tuple(secrets)
    )


async def publish_task(
    context: Context,
    workspace: JobWorkspace,
    attempt: Attempt,
    clone_url: str,
    summary: str,
    verification: Verification | None,
    secrets: Sequence[str],
) -> dict[str, Any]:
    """Commit, push the task's branch, open (or refresh) the draft PR; what the result names."""
    job = context.job
    refuse_secrets(context, attempt.changes)
    touches = tuple(await ci_touches_at(attempt.files, workspace.git_dir, workspace.base_sha))
    sha = await context.workspaces.commit(
        workspace,
        attempt.changes,
        message=commit_message(job.id, summary, secrets),
        author=await bot_identity(context),
        co_authors=[],
    )
    await context.workspaces.push(workspace, clone_url=clone_url, token=await context.git_token())
    await record_push(context, workspace.branch, sha)
    pull = await open_or_update_draft_pr(
        context.github,
        job.repository,
        head_branch=workspace.branch,
        base_branch=workspace.default_branch,
        title=task_title(job.id, summary),
        body=task_body(
            job.id,
            summary,
            attempt.files,
            attempt,
            verification,
            touches,
            secrets,
            str(schedule_of(job.payload).get("name") or ""),
        ),
        draft=True,
    )
    await record_opened(context, pull.number, workspace.branch)  # its branch is the prefix's
    return {
        "number": pull.number,
        "url": pull.html_url,
        "branch": workspace.branch,
        "commit": sha or "",
    }


def verification_of(verification: Verification, secrets: Sequence[str]) -> dict[str, Any]:
    """What the result says of the tests: the verdict, the command, before and after."""
    return {
        "verdict": str(verification.verdict),
        "command": redact_text(verification.command, tuple(secrets)),
        "summary": verification.short,
        "tests": before_and_after(verification) if verification.after else "",
        "note": redact_text(verification.note, tuple(secrets)),
    }
