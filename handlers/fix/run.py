"""Claude Code on a fix: the prompt from the issue as it stood at the trigger, the run in the
sandbox, and the progress comment following its turns."""

from __future__ import annotations

import asyncio

from app import job_events
from app.context import Context
from app.events import WebhookEvent
from handlers.common.commands import command_of
from handlers.common.progress import ProgressComment
from handlers.fix.prompt import SYSTEM_APPEND, build_prompt, snapshot
from handlers.fix.target import issue_comments
from sandbox.container import RunSpec
from sandbox.git_workspace import JobWorkspace
from sandbox.runner import RunResult
from sandbox.session import Transcript
from sandbox.stream import StreamEvent, SystemInit, ToolUse


async def fix_prompt(event: WebhookEvent, context: Context) -> str:
    """The task and the issue (title, body, comments up to the trigger) framed as untrusted."""
    command = command_of(event)
    comments = await issue_comments(context, context.job.number or 0)
    instructions = command.args if command and command.name == context.kind.name else ""
    own = {f"{context.app_slug}[bot]"}
    # Cleaning text anyone wrote costs CPU: off the event loop, which also serves the intake.
    return await asyncio.to_thread(
        lambda: build_prompt(
            snapshot(event.payload, comments, ignore_authors=own),
            repository=context.job.repository,
            instructions=instructions,
        )
    )


async def run_claude(
    event: WebhookEvent,
    context: Context,
    workspace: JobWorkspace,
    progress: ProgressComment,
    image: str | None = None,
    prompt: str | None = None,
    resume: Transcript | None = None,
) -> tuple[RunResult, str]:
    """Claude Code in the sandbox on the workspace (in the prepared environment's image, if any),
    and the model it used; progress follows its turns. The prompt is the issue's unless one is
    given (a repair round's, a follow-up's); `resume` continues an earlier session."""
    spec = RunSpec(
        job_id=context.job.id,
        workspace=workspace.path,
        prompt=prompt or await fix_prompt(event, context),
        append_system_prompt=SYSTEM_APPEND,
        model=context.settings.model,
        max_turns=context.settings.max_turns,
        timeout_seconds=context.settings.sandbox_timeout_seconds,
        image=image,
        resume=resume,
    )
    turns = 0
    model = ""

    async def on_event(stream_event: StreamEvent) -> None:
        nonlocal turns, model
        await context.emit(job_events.of_stream(stream_event))
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
