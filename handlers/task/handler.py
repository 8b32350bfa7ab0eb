"""The task job: Claude Code on a repository with an integrator's prompt, through the API.

The same engine as a fix (the host's checkout, the prepared environment, the hardened sandbox,
the read-back, the host's test runs), with no GitHub thread: what happened is the job's event
log, its diff and its result, and a draft pull request when the task asked for one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from app import task_secrets
from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.github_urls import git_url
from app.job_events import file_changes
from app.task_secrets import RESTART_NEXT_STEP, RESTART_REASON, TaskSecrets
from handlers.common.protected_paths import refuse_protected_changes
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import run_stats, usage_record, without_secrets
from handlers.common.verification import Verification
from handlers.fix.environment import prepare_environment
from handlers.fix.handler import failure_of
from handlers.fix.read_back import read_back
from handlers.fix.verify import Attempt, verify_fix
from handlers.task.outcome import kept_diff, task_result
from handlers.task.publish import publish_task, verification_of
from handlers.task.reporting import NoCheckRun, TaskProgress
from handlers.task.run import run_task_claude
from handlers.task.schedule_output import report_schedule_run
from handlers.task.spec import TaskSpec, spec_of, work_branch
from sandbox.git_errors import GitError
from sandbox.git_workspace import JobWorkspace, diff_text
from sandbox.runner import Outcome

URL_DEFAULT_REF = "main"


async def run_task(event: WebhookEvent, context: Context) -> str:
    """Run the task and keep its diff and result; the summary is the job's. Its credentials
    are let go when the worker has ended it (app/task_endings.py)."""
    job = context.job
    held = task_secrets.secrets_of(job.id)
    try:
        done = await _run(event, context, spec_of(job.payload), held)
        await report_schedule_run(context, done)  # a schedule's comment or issue, if it asked
        return done
    except (JobFailed, GitError) as error:
        reason, next_step = failure_of(error, context.settings.branch_prefix, context.kind.words)
        await context.store.set_task_outcome(job.id, "", task_result(success=False, summary=reason))
        raise JobFailed(reason, next_step) from None


async def _run(
    event: WebhookEvent, context: Context, spec: TaskSpec, held: TaskSecrets | None
) -> str:
    job = context.job
    stored = await context.store.task(job.id)
    if stored is not None and stored.has_credentials and held is None:
        raise JobFailed(RESTART_REASON, RESTART_NEXT_STEP)
    context.require_sandbox()
    clone_url, base = await _source(context, spec)
    token = held.git_token if held and held.git_token else ""
    if not spec.clone_url:
        token = await context.git_token()
    workspace = await context.workspaces.prepare(
        clone_url=clone_url,
        token=token,
        default_branch=base,
        work_branch=work_branch(context.settings.branch_prefix, job.id, spec.branch),
    )
    try:
        return await _work(event, context, spec, workspace, clone_url, held)
    finally:
        await context.workspaces.remove(workspace)


async def _source(context: Context, spec: TaskSpec) -> tuple[str, str]:
    """(clone URL, branch to start from): the URL given, or the App's repository as GitHub has it."""
    if spec.clone_url:
        return spec.clone_url, spec.ref or URL_DEFAULT_REF
    owner, name = context.owner_and_name
    repository = (await context.github.rest.repos.async_get(owner, name)).parsed_data
    return git_url(repository.clone_url, context.settings), spec.ref or repository.default_branch


async def _work(
    event: WebhookEvent,
    context: Context,
    spec: TaskSpec,
    workspace: JobWorkspace,
    clone_url: str,
    held: TaskSecrets | None,
) -> str:
    started = time.monotonic()
    secrets = (*context.settings.secret_values(), *(held.values() if held else ()))
    image = await prepare_environment(context, workspace)
    result, model = await run_task_claude(context, spec, workspace, image)
    result = without_secrets(result, secrets)
    model = model or spec.model or context.settings.model
    stats = run_stats(result, model, time.monotonic() - started, context.settings)
    await context.set_usage(usage_record(stats))
    if result.outcome is not Outcome.SUCCESS:
        raise JobFailed(*run_failure(result, context.settings, context.kind.words))
    changes = await read_back(workspace, context)
    files = changes.changed_files
    summary = result.summary.strip() or "Claude finished the task."
    if not files:
        await context.store.set_task_outcome(
            context.job.id, "", task_result(success=True, summary=summary)
        )
        return "no change"
    diff = await diff_text(workspace, changes)
    changed = file_changes(diff, files)  # the counts the live readers were shown
    kept = kept_diff(diff, secrets)
    attempt = Attempt(changes, files, result, stats)
    verification = None
    if spec.verify:
        verification = await _verify(event, context, workspace, attempt, spec, image)
    pull_request = None
    if spec.pull_request:
        await asyncio.to_thread(
            refuse_protected_changes, files, context.settings.repo_protected_paths
        )
        pull_request = await publish_task(
            context, workspace, attempt, clone_url, summary, verification, secrets
        )
    outcome = task_result(
        success=True,
        summary=summary,
        files=changed,
        pull_request=pull_request,
        verification=verification_of(verification, secrets) if verification else None,
    )
    await context.store.set_task_outcome(context.job.id, kept, outcome)
    if pull_request is not None:
        return f"pull request #{pull_request['number']}"
    return f"changed {len(files)} file" + ("" if len(files) == 1 else "s")


async def _verify(
    event: WebhookEvent,
    context: Context,
    workspace: JobWorkspace,
    attempt: Attempt,
    spec: TaskSpec,
    image: str | None,
) -> Verification:
    """The repository's tests before and after the change, as a fix runs them; no repair
    rounds (a repair would run with a fix's prompt and tools, not the task's)."""
    settings = replace(context.settings, verify_max_rounds=0)
    verifying = replace(context, settings=settings)
    verified = await verify_fix(
        event,
        verifying,
        workspace,
        attempt,
        TaskProgress(context, spec.max_turns or settings.max_turns),
        NoCheckRun(context),
        image=image,
    )
    return verified.verification
