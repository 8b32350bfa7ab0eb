"""The fix job: a maintainer labels an issue (or comments `/fix`) and gets a draft pull request."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.kinds import Words
from app.page_tokens import page_link
from handlers.common.check_runs import CheckRun
from handlers.common.progress import ProgressComment, ProgressState, Step
from handlers.common.protected_paths import refuse_protected_changes
from handlers.common.reactions import acknowledge
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import run_stats, usage_record, without_secrets
from handlers.fix.conversation import conversation_of, remember, transcript_of
from handlers.fix.environment import prepare_environment
from handlers.fix.publish import publish
from handlers.fix.read_back import read_back
from handlers.fix.run import run_claude
from handlers.fix.target import load_target
from handlers.fix.verify import Attempt, verify_fix
from handlers.outcomes.opened import record_opened
from sandbox.git_errors import GitError, PushRejected
from sandbox.git_workspace import JobWorkspace
from sandbox.runner import Outcome


def failure_of(error: JobFailed | GitError, branch_prefix: str, words: Words) -> tuple[str, str]:
    """(reason, next step) for the progress comment and the check run."""
    if isinstance(error, JobFailed):
        return error.reason, error.next_step
    if isinstance(error, PushRejected):
        return (
            f"GitHub rejected the push: {error}",
            f"Let the App push to `{branch_prefix}*` branches (branch protection or rulesets), "
            f"{words.then_retry}",
        )
    return f"git could not {error.step} the repository: {error}", words.retry_hint


def work_branch(branch_prefix: str, issue_number: int) -> str:
    """Where a fix for an issue is pushed: never the default or any protected branch."""
    return f"{branch_prefix}issue-{issue_number}"


async def fix_issue(event: WebhookEvent, context: Context) -> str:
    """Run Claude Code on the issue and answer with a draft PR, or with why not."""
    job = context.job
    number = job.number or 0
    context.require_sandbox()
    await acknowledge(event, context)  # the first write: nothing paced before it
    target = await load_target(context)
    progress, check, announced = start_reporting(context, target.head_sha)
    started = time.monotonic()
    workspace: JobWorkspace | None = None
    try:
        workspace = await context.workspaces.prepare(
            clone_url=target.clone_url,
            token=await context.git_token(),
            default_branch=target.default_branch,
            work_branch=work_branch(context.settings.branch_prefix, number),
        )
        image = await prepare_environment(context, workspace)
        # Another trigger on the issue continues the session its branch's last round left.
        earlier = await conversation_of(context, workspace.branch)
        result, model = await run_claude(
            event, context, workspace, progress, image, resume=transcript_of(earlier)
        )
        result = without_secrets(result, context.settings.secret_values())
        stats = run_stats(
            result, model or context.settings.model, time.monotonic() - started, context.settings
        )
        # The CLI counts the turn it was refused at the limit too; the checklist never shows more.
        shown_turns = min(stats.turns, context.settings.max_turns)
        progress.state = replace(progress.state, turns=shown_turns, stats=stats)
        await context.set_usage(usage_record(stats))
        await announced  # the final word comes after the first
        if result.outcome is not Outcome.SUCCESS:
            raise JobFailed(*run_failure(result, context.settings, context.kind.words))
        changes = await read_back(workspace, context)
        files = changes.changed_files
        # Before anything is committed or pushed: a push runs the repository's CI on what it holds.
        await asyncio.to_thread(
            refuse_protected_changes, files, context.settings.repo_protected_paths
        )
        if not files and workspace.branch_existed:
            # An earlier attempt pushed the fix and was stopped before opening the PR.
            files = await context.workspaces.files_on_branch(workspace)
        if not files:
            await remember(context, workspace.branch, earlier, result)
            await progress.update(progress.state.unchanged(result.summary, stats), force=True)
            await check.complete(
                "neutral", "No change", result.summary or "Claude changed no file."
            )
            return "no change"
        attempt = Attempt(changes, files, result, stats)
        verified = await verify_fix(
            event, context, workspace, attempt, progress, check, image=image
        )
        trigger = "/fix" if event.comment_id is not None else "label"
        rounds = earlier.rounds if earlier is not None else ()
        published = await publish(
            context, target, workspace, verified, progress, check, trigger=trigger, earlier=rounds
        )
        await record_opened(context, published.pull.number, workspace.branch)
        await remember(context, workspace.branch, earlier, verified.attempt.result, published.round)
        return f"pull request #{published.pull.number}"
    except (JobFailed, GitError) as error:
        raise await report_failure(context, error, progress, check, announced) from None
    finally:
        if not announced.done():
            announced.cancel()
        if workspace is not None:
            await context.workspaces.remove(workspace)


def start_reporting(
    context: Context, head_sha: str
) -> tuple[ProgressComment, CheckRun, asyncio.Task[None]]:
    """The progress comment (on the job's issue or pull request) and the check run (on
    `head_sha`), being announced: GitHub's writes are paced (a second apart), and the clone and
    the sandbox need not wait for them."""
    job = context.job
    progress = ProgressComment(
        context.github,
        job.repository,
        job.number or 0,
        ProgressState(
            job_id=job.id,
            max_turns=context.settings.max_turns,
            current=Step.PREPARING,
            live_log_url=page_link(context.settings, job.id, time.time()),
        ),
    )
    check = CheckRun(
        context.github, job.repository, head_sha, job.id, context.kind.words.check_name
    )
    return progress, check, asyncio.create_task(announce(progress, check))


async def report_failure(
    context: Context,
    error: JobFailed | GitError,
    progress: ProgressComment,
    check: CheckRun,
    announced: asyncio.Task[None],
) -> JobFailed:
    """Say why the job failed, after its first word: the progress comment and the check run;
    the failure to raise, marked as told."""
    reason, next_step = failure_of(error, context.settings.branch_prefix, context.kind.words)
    await asyncio.wait([announced])
    await progress.update(progress.state.failed(reason, next_step), force=True)
    await check.complete("failure", "fixwright could not finish", f"{reason}\n\n{next_step}")
    return JobFailed(reason, next_step, reported=True)


async def announce(progress: ProgressComment, check: CheckRun) -> None:
    """The progress comment and the check run: the thread sees the job start.

    The check run is created in progress: the job is already running, and every write is paced.
    """
    await progress.flush()
    await check.in_progress("Preparing the workspace")
