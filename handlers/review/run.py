"""Claude Code on a review: read-only tools on a read-only checkout, its findings parsed, one
more run when the answer is malformed, and one line of cost for both."""

from __future__ import annotations

import asyncio
import time

from app import job_events
from app.config import Settings
from app.context import Context
from app.errors import JobFailed
from app.quota import cost_of_run
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import RunStats, usage_record
from handlers.review.diff import ReviewScope, unified_diff
from handlers.review.findings import Finding, FindingsError, parse_findings
from handlers.review.prompt import (
    REVIEW_SYSTEM_APPEND,
    PullSnapshot,
    build_review_prompt,
    retry_prompt,
)
from sandbox.container import ALWAYS_DISALLOWED, RunSpec
from sandbox.git_review import ReviewCheckout
from sandbox.runner import Outcome, RunResult
from sandbox.stream import StreamEvent, SystemInit, ToolUse

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
        await context.set_usage(usage_record(stats))
        if result.outcome is not Outcome.SUCCESS:
            raise JobFailed(*run_failure(result, context.settings, context.kind.words))
        try:
            return await asyncio.to_thread(parse_findings, result.summary), stats
        except FindingsError as error:
            problem = str(error)
            context.log.info("review.malformed_findings", problem=problem)
            asked = retry_prompt(prompt, problem)
    raise JobFailed(
        f"Claude's answer did not hold its findings in the expected form, twice ({problem}).",
        f"{context.kind.words.retry_hint.removesuffix('.')}; if it keeps happening, the operator "
        f"can find both answers in the log of job `{context.job.id}`.",
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
        await context.emit(job_events.of_stream(stream_event))
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
