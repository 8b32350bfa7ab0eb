"""The fix job: a maintainer labels an issue (or comments `/fix`) and gets a draft pull request."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from app.config import Settings
from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.kinds import Words
from handlers.common.check_runs import CheckRun
from handlers.common.ci_files import ci_touches_at
from handlers.common.commands import command_of
from handlers.common.progress import ProgressComment, ProgressState, Step
from handlers.common.protected_paths import refuse_protected_changes
from handlers.common.reactions import acknowledge
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import RunStats, run_stats, usage_record, without_secrets
from handlers.common.untrusted_text import defang
from handlers.fix.outcomes import workspace_refusal
from handlers.fix.prompt import SYSTEM_APPEND, build_prompt, snapshot
from handlers.fix.pull_requests import (
    open_or_update_draft_pr,
    render_pr_body,
    render_pr_title,
)
from handlers.fix.target import (
    FixTarget,
    bot_identity,
    issue_comments,
    load_target,
    noreply_identity,
)
from sandbox.container import RunSpec
from sandbox.git_errors import GitError, PushRejected
from sandbox.git_secrets import find_secrets
from sandbox.git_workspace import (
    JobWorkspace,
    Snapshot,
    SnapshotLimits,
    WorkspaceRefused,
    changed_files,
    commit_changes,
    files_on_branch,
    prepare_workspace,
    push,
    remove_workspace,
    snapshot_workspace,
)
from sandbox.redaction import redact_text
from sandbox.runner import Outcome, RunResult
from sandbox.stream import StreamEvent, SystemInit, ToolUse
from sandbox.workspace_walk import WalkLimits


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


def workspace_limits(settings: Settings) -> SnapshotLimits:
    """How much of the workspace the host reads back after the run, from the settings."""
    walk = WalkLimits(
        max_file_bytes=settings.workspace_max_file_bytes,
        max_total_bytes=settings.workspace_max_bytes,
        max_files=settings.workspace_max_files,
    )
    return SnapshotLimits(walk=walk, max_changed_bytes=settings.workspace_max_changed_bytes)


async def read_back(workspace: JobWorkspace, context: Context) -> Snapshot:
    """The workspace read once after the run: the file list, the secret scan and the commit."""
    try:
        return await snapshot_workspace(workspace, workspace_limits(context.settings))
    except WorkspaceRefused as refused:
        raise JobFailed(*workspace_refusal(refused, context.kind.words)) from None


async def fix_issue(event: WebhookEvent, context: Context) -> str:
    """Run Claude Code on the issue and answer with a draft PR, or with why not."""
    job = context.job
    number = job.number or 0
    sandbox = context.require_sandbox()
    await acknowledge(event, context)  # the first write: nothing paced before it
    target = await load_target(context)
    progress = ProgressComment(
        context.github,
        job.repository,
        number,
        ProgressState(job_id=job.id, max_turns=context.settings.max_turns, current=Step.PREPARING),
    )
    check = CheckRun(
        context.github, job.repository, target.head_sha, job.id, context.kind.words.check_name
    )
    # GitHub's writes are paced (a second apart); the clone and the sandbox need not wait for them.
    announced = asyncio.create_task(announce(progress, check))
    started = time.monotonic()
    workspace: JobWorkspace | None = None
    try:
        workspace = await prepare_workspace(
            clone_url=target.clone_url,
            token=await context.git_token(),
            default_branch=target.default_branch,
            work_branch=work_branch(context.settings.branch_prefix, number),
            parent=sandbox.workspaces,
        )
        result, model = await run_claude(event, context, target, workspace, progress)
        result = without_secrets(result, context.settings.secret_values())
        stats = run_stats(
            result, model or context.settings.model, time.monotonic() - started, context.settings
        )
        # The CLI counts the turn it was refused at the limit too; the checklist never shows more.
        shown_turns = min(stats.turns, context.settings.max_turns)
        progress.state = replace(progress.state, turns=shown_turns, stats=stats)
        await context.store.set_usage(job.id, usage_record(stats))
        await announced  # the final word comes after the first
        if result.outcome is not Outcome.SUCCESS:
            reason, next_step = run_failure(result, context.settings, context.kind.words)
            raise JobFailed(reason, next_step)
        changes = await read_back(workspace, context)
        files = await changed_files(workspace, changes)
        # Before anything is committed or pushed: a push runs the repository's CI on what it holds.
        await asyncio.to_thread(
            refuse_protected_changes, files, context.settings.repo_protected_paths
        )
        if not files and workspace.branch_existed:
            # An earlier attempt pushed the fix and was stopped before opening the PR.
            files = await files_on_branch(workspace)
        if not files:
            await progress.update(progress.state.unchanged(result.summary, stats), force=True)
            await check.complete(
                "neutral", "No change", result.summary or "Claude changed no file."
            )
            return "no change"
        await publish(context, target, workspace, changes, result, files, stats, progress, check)
        return f"pull request #{progress.state.pull_request_number}"
    except (JobFailed, GitError) as error:
        reason, next_step = failure_of(error, context.settings.branch_prefix, context.kind.words)
        await asyncio.wait([announced])
        await progress.update(progress.state.failed(reason, next_step), force=True)
        await check.complete("failure", "fixwright could not finish", f"{reason}\n\n{next_step}")
        raise JobFailed(reason, next_step, reported=True) from None
    finally:
        if not announced.done():
            announced.cancel()
        if workspace is not None:
            await remove_workspace(workspace)


async def announce(progress: ProgressComment, check: CheckRun) -> None:
    """The progress comment and the check run: the thread sees the job start.

    The check run is created in progress: the job is already running, and every write is paced.
    """
    await progress.flush()
    await check.in_progress("Preparing the workspace")


async def run_claude(
    event: WebhookEvent,
    context: Context,
    target: FixTarget,
    workspace: JobWorkspace,
    progress: ProgressComment,
) -> tuple[RunResult, str]:
    """Claude Code in the sandbox on the workspace, and the model it used; progress follows its turns."""
    command = command_of(event)
    comments = await issue_comments(context, context.job.number or 0)
    instructions = command.args if command and command.name == "fix" else ""
    own = {f"{context.app_slug}[bot]"}
    # Cleaning text anyone wrote costs CPU: off the event loop, which also serves the intake.
    prompt = await asyncio.to_thread(
        lambda: build_prompt(
            snapshot(event.payload, comments, ignore_authors=own),
            repository=context.job.repository,
            instructions=instructions,
        )
    )
    spec = RunSpec(
        job_id=context.job.id,
        workspace=workspace.path,
        prompt=prompt,
        append_system_prompt=SYSTEM_APPEND,
        model=context.settings.model,
        max_turns=context.settings.max_turns,
        timeout_seconds=context.settings.sandbox_timeout_seconds,
    )
    turns = 0
    model = ""

    async def on_event(stream_event: StreamEvent) -> None:
        nonlocal turns, model
        await context.record("claude", {"type": type(stream_event).__name__})
        if isinstance(stream_event, SystemInit):
            model = stream_event.model
        if isinstance(stream_event, ToolUse):
            turns += 1
            await progress.update(progress.state.working(turns, describe_tool(stream_event)))

    # Shown while the container starts: a paced edit must not hold the sandbox back.
    starting = asyncio.create_task(
        progress.update(progress.state.working(0, "starting Claude Code"), force=True)
    )
    try:
        result = await context.require_sandbox().run(spec, on_event)
    finally:
        if not starting.done():
            starting.cancel()
    if starting.done() and not starting.cancelled():
        starting.result()  # not left unread: what it raised fails the job, as when it was awaited
    return result, model


def describe_tool(tool: ToolUse) -> str:
    """A short line for the progress comment: which tool, on what."""
    detail = (
        tool.input.get("file_path") or tool.input.get("command") or tool.input.get("pattern") or ""
    )
    return f"{tool.name} {str(detail)[:80]}".strip()


async def publish(
    context: Context,
    target: FixTarget,
    workspace: JobWorkspace,
    changes: Snapshot,
    result: RunResult,
    files: list[str],
    stats: RunStats,
    progress: ProgressComment,
    check: CheckRun,
) -> None:
    """Commit as the App, push the work branch, and open (or refresh) the draft PR."""
    job = context.job
    number = job.number or 0
    found = find_secrets(changes.changed_text(), context.settings.named_secrets())
    if found:
        raise JobFailed(
            f"the change contains what looks like a secret ({', '.join(found)}), so it was not pushed.",
            "Check the issue for instructions that ask to reveal credentials; then comment `/fix` to try again.",
        )
    # Workflows as the base commit has them, from the host's git directory, not the checkout.
    touches = tuple(await ci_touches_at(files, workspace.git_dir, workspace.base_sha))
    await progress.update(progress.state.at(Step.PUSHING), force=True)
    bot_name, bot_email = await bot_identity(context)
    requester = await noreply_identity(context, job.requested_by)
    # The title and Claude's summary are made inert: on the default branch, a commit message's
    # `Fixes #12` closes issue 12 and its `@someone` is a mention; only our own `Fix #N` counts.
    title = defang(" ".join(target.issue_title.split())[:60])
    message = redact_text(
        f"Fix #{number}: {title}\n\n{defang(result.summary.strip()[:2000])}",
        context.settings.secret_values(),
    )
    await commit_changes(
        workspace,
        message=message,
        author_name=bot_name,
        author_email=bot_email,
        co_authors=[requester],
        snapshot=changes,
    )
    await push(workspace, clone_url=target.clone_url, token=await context.git_token())
    pull = await open_or_update_draft_pr(
        context.github,
        job.repository,
        head_branch=workspace.branch,
        base_branch=target.default_branch,
        title=render_pr_title(target.issue_title, number),
        draft=context.settings.draft_pull_requests,
        body=render_pr_body(number, result.summary, files, stats, touches),
    )
    await progress.update(
        progress.state.opened(pull.html_url, pull.number, result.summary, stats, touches),
        force=True,
    )
    await check.complete(
        "success", f"Draft pull request #{pull.number}", result.summary or "Changes pushed."
    )
