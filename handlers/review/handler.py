"""The review job: `/review` on a pull request gets back one line-anchored pull-request review."""

from __future__ import annotations

import asyncio
import time

from githubkit.exception import RequestFailed

from app.config import Settings
from app.context import Context
from app.errors import JobFailed
from app.events import WebhookEvent
from app.quota import cost_of_run
from app.routing import Router
from app.store import NewJob
from handlers.common.commands import command_of, job_for
from handlers.common.permissions import require_permission
from handlers.common.reactions import acknowledge
from handlers.fix.outcomes import run_failure
from handlers.fix.pull_requests import RunStats
from handlers.fix.target import usage_record
from handlers.review.check import ReviewCheckRun
from handlers.review.diff import ReviewScope, select_files, unified_diff
from handlers.review.findings import Finding, FindingsError, parse_findings
from handlers.review.github import (
    compared_files,
    is_unprocessable,
    load_pull,
    post_review,
    posted_fingerprints,
)
from handlers.review.prompt import (
    REVIEW_SYSTEM_APPEND,
    PullSnapshot,
    build_review_prompt,
    retry_prompt,
)
from handlers.review.render import (
    ReviewPlan,
    SummaryFacts,
    nothing_to_review,
    place_findings,
    render_summary,
    review_comment,
)
from sandbox.container import ALWAYS_DISALLOWED, RunSpec
from sandbox.git_errors import GitError
from sandbox.git_review import ReviewCheckout, check_out_commit, remove_checkout
from sandbox.runner import Outcome, RunResult
from sandbox.stream import StreamEvent, SystemInit, ToolUse

router = Router()

REVIEW_PERMISSIONS = {
    "contents": "read",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "metadata": "read",
}
# Read-only tools: the checkout is mounted read-only too, and nothing in a review needs a shell.
REVIEW_TOOLS = ("Read", "Grep", "Glob", "LS")
REVIEW_DISALLOWED = (*ALWAYS_DISALLOWED, "Bash", "Write", "Edit", "MultiEdit", "NotebookEdit")


def review_tools(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(allowed, disallowed) tools: read-only, plus the Bash commands the operator allows, if any.

    `FIXWRIGHT_REVIEW_BASH_COMMANDS=git log,pytest` allows `Bash(git log:*)` and `Bash(pytest:*)`
    and nothing else: with nobody to approve a prompt, any other command is refused.
    """
    if not settings.review_bash_commands:
        return REVIEW_TOOLS, REVIEW_DISALLOWED
    commands = tuple(f"Bash({command}:*)" for command in settings.review_bash_commands)
    return (*REVIEW_TOOLS, *commands), tuple(t for t in REVIEW_DISALLOWED if t != "Bash")


RETRY = "Comment `/review` to try again."


@router.trigger("issue_comment", "created")
def plan_review(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`/review [focus]` on a pull request, by a human; edited comments never trigger."""
    command = command_of(event)
    if command is None or command.name != "review" or not event.is_pull_request:
        return None
    return job_for(event, "review", settings)


@router.job("review", permissions=REVIEW_PERMISSIONS)
async def review_pull_request(event: WebhookEvent, context: Context) -> str:
    """Run Claude Code read-only on the PR's head and post its findings as one review.

    The head is the one the pull request had when the job started (recorded in the job's event
    log): its diff, its files and the review's commit all name that commit, whatever is pushed
    while the job runs.
    """
    number = context.job.number or 0
    await require_permission(context, context.job.requested_by, number, "reviews pull requests")
    sandbox = context.require_sandbox()
    await acknowledge(event, context)
    pull, clone_url = await load_pull(context, number)
    await context.record("review.commit", {"head_sha": pull.head_sha, "base_sha": pull.base_sha})
    context.log.info("review.commit", head_sha=pull.head_sha, base_sha=pull.base_sha)
    check = await ReviewCheckRun.start_review(
        context.github, context.job.repository, head_sha=pull.head_sha, job_id=context.job.id
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
        checkout = await check_out_commit(
            clone_url=clone_url,
            token=await context.git_token(),
            sha=pull.head_sha,
            parent=sandbox.workspaces,
        )
        await check.in_progress("Claude is reviewing", f"Reviewing {len(scope.reviewed)} files.")
        focus = focus_of(event)
        findings, stats = await find_problems(context, pull, scope, checkout, focus)
        plan = await publish(
            context, pull, scope, findings, SummaryFacts(pull.head_sha, focus, stats)
        )
        title = f"{len(plan.findings)} findings, {len(plan.inline)} new inline comments"
        await check.finish(title, f"{title}; the review is on the pull request.")
        return title
    except (JobFailed, GitError) as error:
        reason, next_step = failure_of(error)
        await check.finish("fixwright could not finish the review", f"{reason}\n\n{next_step}")
        raise JobFailed(reason, next_step) from None
    finally:
        if checkout is not None:
            await remove_checkout(checkout)


def focus_of(event: WebhookEvent) -> str:
    """What follows `/review`: what the reviewer wants looked at."""
    command = command_of(event)
    return command.args if command is not None else ""


def failure_of(error: JobFailed | GitError) -> tuple[str, str]:
    if isinstance(error, JobFailed):
        return error.reason, error.next_step or RETRY
    return (
        f"git could not fetch the pull request's head commit: {error}",
        "Comment `/review` to try again (a head force-pushed away since the trigger is gone; "
        "the new head is reviewed then).",
    )


def review_failure(result: RunResult, settings: Settings) -> tuple[str, str]:
    """Why a review run did not finish, with the review's own retry command."""
    if result.outcome is Outcome.MAX_TURNS:
        return (
            f"Claude Code reached its limit of {settings.max_turns} turns before finishing.",
            "Comment `/review <what to focus on>` to narrow the review down.",
        )
    reason, next_step = run_failure(result, settings)
    return reason, next_step.replace("`/fix`", "`/review`").replace("the issue", "the review")


async def find_problems(
    context: Context,
    pull: PullSnapshot,
    scope: ReviewScope,
    checkout: ReviewCheckout,
    focus: str,
) -> tuple[list[Finding], RunStats]:
    """Claude's findings; a malformed answer gets one more run with the problem named."""
    # Cleaning text anyone wrote costs CPU: off the event loop, which also serves the intake.
    prompt = await asyncio.to_thread(
        lambda: build_review_prompt(
            pull,
            repository=context.job.repository,
            diff=unified_diff(scope.reviewed),
            skipped=scope.skipped,
            focus=focus,
        )
    )
    started = time.monotonic()
    asked, results = prompt, []
    models: list[str] = []
    problem = ""
    for _attempt in range(2):
        result = await run_claude(context, checkout, asked, models)
        results.append(result)
        stats = combined_stats(results, models, context.settings, time.monotonic() - started)
        await context.store.set_usage(context.job.id, usage_record(stats))
        if result.outcome is not Outcome.SUCCESS:
            raise JobFailed(*review_failure(result, context.settings))
        try:
            return await asyncio.to_thread(parse_findings, result.summary), stats
        except FindingsError as error:
            problem = str(error)
            context.log.info("review.malformed_findings", problem=problem)
            asked = retry_prompt(prompt, problem)
    raise JobFailed(
        f"Claude's answer did not hold its findings in the expected form, twice ({problem}).",
        "Comment `/review` to try again; if it keeps happening, the operator can find both "
        f"answers in the log of job `{context.job.id}`.",
    )


async def run_claude(
    context: Context, checkout: ReviewCheckout, prompt: str, models: list[str]
) -> RunResult:
    """Claude Code in the sandbox, the checkout mounted read-only, read-only tools only."""
    spec = RunSpec(
        job_id=context.job.id,
        workspace=checkout.path,
        prompt=prompt,
        append_system_prompt=REVIEW_SYSTEM_APPEND,
        model=context.settings.model,
        max_turns=context.settings.max_turns,
        allowed_tools=review_tools(context.settings)[0],
        disallowed_tools=review_tools(context.settings)[1],
        read_only=True,
        timeout_seconds=context.settings.sandbox_timeout_seconds,
    )

    async def on_event(stream_event: StreamEvent) -> None:
        await context.record("claude", {"type": type(stream_event).__name__})
        if isinstance(stream_event, SystemInit) and stream_event.model:
            models.append(stream_event.model)  # the model the CLI really used, for the summary
        if isinstance(stream_event, ToolUse):
            context.log.debug("review.tool", tool=stream_event.name)

    return await context.require_sandbox().run(spec, on_event)


def combined_stats(
    results: list[RunResult], models: list[str], settings: Settings, seconds: float
) -> RunStats:
    """One line of cost for the whole review, a retry included."""
    usage = results[0].usage
    for later in results[1:]:
        usage = usage + later.usage
    return RunStats(
        model=(models[-1] if models else "") or settings.model or "default",
        turns=sum(r.num_turns for r in results),
        usage=usage,
        # The relay's counts at the price table's price, as the quota ledger charges them.
        cost_usd=cost_of_run(
            usage,
            (models[-1] if models else "") or settings.model,
            settings.model_prices,
            settings.relay_models,
        ),
        seconds=seconds,
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
