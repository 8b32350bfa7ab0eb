"""Claude Code on a task: the task's prompt and settings in a `RunSpec`, never more tools than a
fix may use; the run's stream goes to the job's event log."""

from __future__ import annotations

from app import job_events
from app.context import Context
from handlers.task.spec import TaskSpec, build_prompt, system_prompt
from sandbox.container import RunSpec
from sandbox.git_workspace import JobWorkspace
from sandbox.runner import RunResult
from sandbox.stream import StreamEvent, SystemInit


def task_run_spec(
    context: Context, spec: TaskSpec, workspace: JobWorkspace, image: str | None
) -> RunSpec:
    """What the CLI is told for the task: its prompt framed, fixwright's system prompt first,
    the task's model, turns, tools (a subset of a fix's) and time, else the settings'; turns
    and time no more than the settings allow."""
    settings = context.settings
    return RunSpec(
        job_id=context.job.id,
        workspace=workspace.path,
        prompt=build_prompt(spec, context.job.repository),
        append_system_prompt=system_prompt(spec),
        model=spec.model or settings.model,
        # Never past the operator's limits (as the repository's file narrowed them).
        max_turns=min(spec.max_turns or settings.max_turns, settings.max_turns),
        allowed_tools=spec.allowed_tools,
        timeout_seconds=min(
            spec.timeout_seconds or settings.sandbox_timeout_seconds,
            settings.sandbox_timeout_seconds,
        ),
        image=image,
    )


async def run_task_claude(
    context: Context, spec: TaskSpec, workspace: JobWorkspace, image: str | None
) -> tuple[RunResult, str]:
    """The run, and the model the CLI reported using."""
    model = ""

    async def on_event(stream_event: StreamEvent) -> None:
        nonlocal model
        await context.emit(job_events.of_stream(stream_event))
        if isinstance(stream_event, SystemInit):
            model = stream_event.model

    run_spec = task_run_spec(context, spec, workspace, image)
    return await context.require_sandbox().run(run_spec, on_event), model
