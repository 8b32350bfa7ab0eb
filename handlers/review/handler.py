"""The review job: `/review` on a pull request gets back one line-anchored pull-request review."""

from __future__ import annotations

from githubkit.exception import RequestFailed

from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.kinds import Words
from handlers.common.commands import command_of
from handlers.common.reactions import acknowledge
from handlers.findings.posted import record_posted
from handlers.review.check import ReviewCheckRun
from handlers.review.diff import ReviewScope, select_files
from handlers.review.findings import Finding
from handlers.review.github import (
    compared_files,
    is_unprocessable,
    load_pull,
    post_review,
    posted_fingerprints,
)
from handlers.review.prompt import PullSnapshot
from handlers.review.render import (
    ReviewPlan,
    SummaryFacts,
    nothing_to_review,
    place_findings,
    render_summary,
    review_comment,
)
from handlers.review.run import find_problems
from sandbox.git_errors import GitError
from sandbox.git_review import ReviewCheckout


async def review_pull_request(event: WebhookEvent, context: Context) -> str:
    """Run Claude Code read-only on the PR's head and post its findings as one review.

    The head is the one the pull request had when the job started (recorded in the job's event
    log): its diff, its files and the review's commit all name that commit, whatever is pushed
    while the job runs.
    """
    number = context.job.number or 0
    context.require_sandbox()
    await acknowledge(event, context)
    pull, clone_url = await load_pull(context, number)
    await context.record("review.commit", {"head_sha": pull.head_sha, "base_sha": pull.base_sha})
    context.log.info("review.commit", head_sha=pull.head_sha, base_sha=pull.base_sha)
    check = await ReviewCheckRun.start_review(
        context.github,
        context.job.repository,
        head_sha=pull.head_sha,
        job_id=context.job.id,
        name=context.kind.words.check_name,
    )
    checkout: ReviewCheckout | None = None
    try:
        await check.in_progress("Reading the pull request")
        scope = select_files(await compared_files(context, pull.base_sha, pull.head_sha))
        if not scope.reviewed:
            await post_review(
                context,
                number,
                commit_id=pull.head_sha,
                body=nothing_to_review(scope, pull.head_sha),
                comments=[],
            )
            await check.finish("Nothing to review", nothing_to_review(scope, pull.head_sha))
            return "nothing to review"
        checkout = await context.workspaces.check_out(
            clone_url=clone_url, token=await context.git_token(), sha=pull.head_sha
        )
        await check.in_progress("Claude is reviewing", f"Reviewing {len(scope.reviewed)} files.")
        focus = focus_of(event)
        findings, stats = await find_problems(context, pull, scope, checkout, focus)
        plan = await publish(
            context, pull, scope, findings, SummaryFacts(pull.head_sha, focus, stats)
        )
        posted = [placed.finding for placed in plan.inline] + list(plan.outside)
        await record_posted(context, number, pull.head_sha, posted)
        title = f"{len(plan.findings)} findings, {len(plan.inline)} new inline comments"
        await check.finish(title, f"{title}; the review is on the pull request.")
        return title
    except (JobFailed, GitError) as error:
        reason, next_step = failure_of(error, context.kind.words)
        await check.finish("fixwright could not finish the review", f"{reason}\n\n{next_step}")
        raise JobFailed(reason, next_step) from None
    finally:
        if checkout is not None:
            await context.workspaces.remove_checkout(checkout)


def focus_of(event: WebhookEvent) -> str:
    """What follows `/review`: what the reviewer wants looked at."""
    command = command_of(event)
    return command.args if command is not None else ""


def failure_of(error: JobFailed | GitError, words: Words) -> tuple[str, str]:
    if isinstance(error, JobFailed):
        return error.reason, error.next_step or words.retry_hint
    return (
        f"git could not fetch the pull request's head commit: {error}",
        f"{words.retry_hint.removesuffix('.')} (a head force-pushed away since the trigger is "
        "gone; the new head is reviewed then).",
    )


async def publish(
    context: Context,
    pull: PullSnapshot,
    scope: ReviewScope,
    findings: list[Finding],
    facts: SummaryFacts,
) -> ReviewPlan:
    """Post the review: new findings inline, the rest in the summary; nothing dropped."""
    posted = await posted_fingerprints(context, pull.number, f"{context.app_slug}[bot]")
    plan = place_findings(findings, scope.lines_of(), posted)
    try:
        await post_review(
            context,
            pull.number,
            commit_id=pull.head_sha,
            body=render_summary(plan, scope, facts),
            comments=[review_comment(placed) for placed in plan.inline],
        )
    except RequestFailed as error:
        if not is_unprocessable(error) or not plan.inline:
            raise
        # GitHub could not place an inline comment: say everything in the summary instead.
        context.log.warning("review.inline_refused", comments=len(plan.inline))
        plan = ReviewPlan((), (*[p.finding for p in plan.inline], *plan.outside), plan.repeated)
        await post_review(
            context,
            pull.number,
            commit_id=pull.head_sha,
            body=render_summary(plan, scope, facts),
            comments=[],
        )
    return plan
