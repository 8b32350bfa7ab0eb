"""A follow-up: a reviewer's `/fix` or review on fixwright's pull request becomes a new commit on
its branch, made in the same Claude Code session as the rounds before it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent, dig
from app.github_urls import git_url
from app.notices import Notice, post_notice_once
from handlers.ask.triggers import mentions_app
from handlers.common.audit import record_refusal
from handlers.common.check_runs import CheckRun
from handlers.common.commands import command_of
from handlers.common.progress import ProgressComment
from handlers.common.protected_paths import refuse_protected_changes
from handlers.common.reactions import acknowledge
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import run_stats, usage_record, without_secrets
from handlers.fix.conversation import conversation_of, remember, transcript_of
from handlers.fix.environment import prepare_environment
from handlers.fix.handler import report_failure, start_reporting
from handlers.fix.publish import publish
from handlers.fix.pull_requests import PullRequestRef
from handlers.fix.read_back import read_back
from handlers.fix.run import run_claude
from handlers.fix.target import FixTarget
from handlers.fix.verify import Attempt, verify_fix
from handlers.followup.pull import PullTarget, load_pull, refusal_of
from handlers.followup.replies import reply_to_threads
from handlers.followup.request import FollowUpRequest, build_followup_prompt, line_comments
from sandbox.git_errors import GitError
from sandbox.git_workspace import JobWorkspace
from sandbox.runner import Outcome


async def follow_up(event: WebhookEvent, context: Context) -> str:
    """Revise the pull request as the reviewer asked, or say in one line why fixwright will not."""
    job = context.job
    number = job.number or 0
    context.require_sandbox()
    await acknowledge(event, context)
    pull = await load_pull(context, number)
    why, refusal = refusal_of(pull, job.repository, context.settings, context.app_slug)
    if refusal:
        await record_refusal(context, refusal)
        await refuse(context, why, refusal)
        return f"refused: {refusal}"
    request = await read_request(event, context)
    if request.is_empty:
        return "nothing asked"
    progress, check, announced = start_reporting(context, pull.head_sha)
    workspace: JobWorkspace | None = None
    try:
        workspace = await context.workspaces.prepare(
            clone_url=git_url(pull.clone_url, context.settings),
            token=await context.git_token(),
            default_branch=pull.base_ref,
            work_branch=pull.head_ref,
        )
        return await revise(event, context, pull, request, workspace, progress, check)
    except (JobFailed, GitError) as error:
        raise await report_failure(context, error, progress, check, announced) from None
    finally:
        if not announced.done():
            announced.cancel()
        else:
            await asyncio.wait([announced])
        if workspace is not None:
            await context.workspaces.remove(workspace)


async def revise(
    event: WebhookEvent,
    context: Context,
    pull: PullTarget,
    request: FollowUpRequest,
    workspace: JobWorkspace,
    progress: ProgressComment,
    check: CheckRun,
) -> str:
    """The round itself, on the checkout of the pull request's branch as it is now."""
    started = time.monotonic()
    earlier = await conversation_of(context, workspace.branch)
    resume = transcript_of(earlier)
    last_commit = earlier.rounds[-1].commit if earlier and earlier.rounds else ""
    moved_to = workspace.base_sha if last_commit and last_commit != workspace.base_sha else ""
    if moved_to:
        note = (
            f"The branch moved since fixwright's last commit (`{last_commit[:12]}`): this round "
            f"works on the new head, `{moved_to[:12]}`."
        )
        progress.state = replace(progress.state, notes=(note,))
    image = await prepare_environment(context, workspace)
    prompt = await asyncio.to_thread(
        build_followup_prompt,
        request,
        repository=context.job.repository,
        number=pull.number,
        title=pull.title,
        resumed=resume is not None,
        moved_to=moved_to,
    )
    result, model = await run_claude(
        event, context, workspace, progress, image, prompt=prompt, resume=resume
    )
    settings = context.settings
    result = without_secrets(result, settings.secret_values())
    stats = run_stats(result, model or settings.model, time.monotonic() - started, settings)
    progress.state = replace(
        progress.state, turns=min(stats.turns, settings.max_turns), stats=stats
    )
    await context.set_usage(usage_record(stats))
    if result.outcome is not Outcome.SUCCESS:
        raise JobFailed(*run_failure(result, settings, context.kind.words))
    changes = await read_back(workspace, context)
    files = changes.changed_files
    await asyncio.to_thread(refuse_protected_changes, files, settings.repo_protected_paths)
    if not files:
        await remember(context, workspace.branch, earlier, result)
        await progress.update(progress.state.unchanged(result.summary, stats), force=True)
        await check.complete("neutral", "No change", result.summary or "Claude changed no file.")
        await reply_to_threads(context, pull.number, request, "")
        return "no change"
    attempt = Attempt(changes, files, result, stats)
    verified = await verify_fix(event, context, workspace, attempt, progress, check, image=image)
    target = FixTarget(
        default_branch=pull.base_ref,
        head_sha=pull.head_sha,
        clone_url=pull.clone_url,
        issue_title=pull.title,
        issue_number=pull.issue_number or pull.number,
    )
    published = await publish(
        context,
        target,
        workspace,
        verified,
        progress,
        check,
        trigger=request.trigger,
        earlier=earlier.rounds if earlier else (),
        someone_elses=None
        if pull.issue_number
        else PullRequestRef(pull.number, pull.html_url, created=False),
    )
    await remember(context, workspace.branch, earlier, verified.attempt.result, published.round)
    await reply_to_threads(context, pull.number, request, published.round.commit)
    return f"pushed {published.round.commit[:12]} to #{pull.number}"


async def read_request(event: WebhookEvent, context: Context) -> FollowUpRequest:
    """The reviewer's words as they were at the trigger: the delivery's, and the review's
    comments (which GitHub lists apart from the review)."""
    requester = context.job.requested_by
    command = command_of(event)
    if command is not None:
        return FollowUpRequest("/fix", requester, command.args)
    review_id = dig(event.payload, "review", "id")
    body = str(dig(event.payload, "review", "body") or "")
    owner, name = context.owner_and_name
    listed = await context.github.rest.pulls.async_list_comments_for_review(
        owner, name, context.job.number or 0, review_id, per_page=100
    )
    comments, left_out = line_comments(
        listed.json(), str(dig(event.payload, "review", "submitted_at") or "")
    )
    # A question to the App (`@<slug> ...`) is answered by its own job, not revised for.
    slug = context.settings.app_slug
    asked = tuple(c for c in comments if not mentions_app(c.body, slug))
    text = "" if mentions_app(body, slug) else body
    return FollowUpRequest("review", requester, text, asked, left_out)


async def refuse(context: Context, why: str, reason: str) -> None:
    """One line on the pull request, at most once an hour for each person and reason."""
    job = context.job
    actor = job.requested_by
    notice = Notice(
        job.repository, job.number or 0, actor, f"followup-{why}", f"@{actor}, {reason}"
    )
    await post_notice_once(context.store, context.github, notice, context.log)
