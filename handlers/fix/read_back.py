"""The workspace read back by the host after a run of Claude Code, within the settings' limits."""

from __future__ import annotations

from app import job_events
from app.config import Settings
from app.context import Context
from app.errors import JobFailed
from handlers.fix.outcomes import workspace_refusal
from sandbox.git_workspace import JobWorkspace, diff_text
from sandbox.snapshot import Snapshot, SnapshotLimits
from sandbox.workspace_walk import WalkLimits, WorkspaceRefused


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
        changes = await context.workspaces.snapshot(workspace, workspace_limits(context.settings))
    except WorkspaceRefused as refused:
        raise JobFailed(*workspace_refusal(refused, context.kind.words)) from None
    if changes.changed_files:  # the live readers see which files, and how many lines
        diff = await diff_text(workspace, changes)
        await context.emit(job_events.files(job_events.file_changes(diff, changes.changed_files)))
    return changes
