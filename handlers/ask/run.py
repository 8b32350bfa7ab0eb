"""Claude Code on a question: the commit checked out read-only, read-only tools, no shell."""

from __future__ import annotations

from app import job_events
from app.context import Context
from handlers.ask.prompt import ASK_SYSTEM_APPEND
from sandbox.container import ALWAYS_DISALLOWED, RunSpec
from sandbox.git_review import ReviewCheckout
from sandbox.runner import RunResult
from sandbox.stream import StreamEvent, SystemInit, ToolUse

# Reading is all an answer needs: no Bash (the operator's review commands are not offered either),
# and nothing that writes, on a checkout that is mounted read-only as well.
ASK_TOOLS = ("Read", "Grep", "Glob", "LS")
ASK_DISALLOWED = (*ALWAYS_DISALLOWED, "Bash", "Write", "Edit", "MultiEdit", "NotebookEdit")


def question_spec(context: Context, checkout: ReviewCheckout, prompt: str) -> RunSpec:
    """The run: read-only, the configured model and turns (narrowed by the repository's file)."""
    return RunSpec(
        job_id=context.job.id,
        workspace=checkout.path,
        prompt=prompt,
        append_system_prompt=ASK_SYSTEM_APPEND,
        model=context.settings.model,
        max_turns=context.settings.max_turns,
        allowed_tools=ASK_TOOLS,
        disallowed_tools=ASK_DISALLOWED,
        read_only=True,
        timeout_seconds=context.settings.sandbox_timeout_seconds,
    )


async def run_claude(
    context: Context, checkout: ReviewCheckout, prompt: str
) -> tuple[RunResult, str]:
    """The run's result and the model the CLI really used ("" when it did not say)."""
    models: list[str] = []

    async def on_event(stream_event: StreamEvent) -> None:
        await context.emit(job_events.of_stream(stream_event))
        if isinstance(stream_event, SystemInit) and stream_event.model:
            models.append(stream_event.model)
        if isinstance(stream_event, ToolUse):
            context.log.debug("ask.tool", tool=stream_event.name)

    result = await context.require_sandbox().run(question_spec(context, checkout, prompt), on_event)
    return result, models[-1] if models else ""
