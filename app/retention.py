"""Retention: nothing the service keeps outlives FIXWRIGHT_RETENTION_DAYS, except the job rows.

Deliveries, the stored webhook payloads and event logs of finished jobs, the audit trail's
entries, the conversations of work branches nobody continued (their Claude Code sessions),
decided approval requests and spent approval tokens, and workspace directories that a crashed job left under `<state_dir>/workspaces` are
deleted once older than the setting, and so are the repository mirrors under
`<state_dir>/mirrors` no job used for as long. The finished job rows stay: their summary and usage
are small. The sweep runs at start-up and hourly (`sweep_periodically`), or as `fixwright prune`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.log import get_logger
from app.metrics import Metrics
from app.store import Store, StoreUnavailable
from app.store.model import Pruned
from sandbox.directories import directories_older_than
from sandbox.git_mirror import remove_unused_mirrors
from sandbox.git_review import REVIEW_DIRECTORY_PREFIX
from sandbox.git_workspace import JOB_DIRECTORY_PREFIX

SWEEP_INTERVAL_SECONDS = 3600.0
DAY_SECONDS = 86_400.0
WORKSPACE_PREFIXES = (JOB_DIRECTORY_PREFIX, REVIEW_DIRECTORY_PREFIX)
# A job's workspace is made after its lease began; a directory changed up to this long before
# the oldest running job started could still be its own (file times are coarser than clocks).
WORKSPACE_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class SweepReport:
    """What one sweep removed, and the workspace directories it could not remove."""

    pruned: Pruned
    workspaces: int
    workspaces_left: tuple[str, ...] = ()
    mirrors: int = 0

    def counts(self) -> dict[str, int]:
        """By the `record` label of fixwright_retention_removed_total."""
        return {
            "deliveries": self.pruned.deliveries,
            "job_payloads": self.pruned.job_payloads,
            "job_events": self.pruned.job_events,
            "notices": self.pruned.notices,
            "audit": self.pruned.audit,
            "conversations": self.pruned.conversations,
            "approvals": self.pruned.approvals,
            "webhook_deliveries": self.pruned.webhook_deliveries,
            "workspaces": self.workspaces,
            "mirrors": self.mirrors,
        }


def workspaces_of(settings: Settings) -> Path:
    """Where job workspaces are made (app/sandbox_service.py)."""
    return (Path(settings.state_dir) / "workspaces").resolve()


def mirrors_of(settings: Settings) -> Path:
    """Where the repositories' mirrors are kept (sandbox/git_mirror.py)."""
    return (Path(settings.state_dir) / "mirrors").resolve()


def old_workspaces(parent: Path, before: float) -> list[Path]:
    """fixwright's workspace directories under `parent` last changed before `before`.

    The agent writes inside its `workspace/`, never in the directory itself, so the directory's
    own time is when the job made it.
    """
    return directories_older_than(parent, before, lambda name: name.startswith(WORKSPACE_PREFIXES))


def remove_workspaces(paths: list[Path]) -> tuple[int, tuple[str, ...]]:
    """Delete each directory; (how many went, those that stayed).

    shutil's rmtree works through directory descriptors here, so no symlink the agent planted
    inside the tree leads it elsewhere.
    """
    left = []
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):
            left.append(str(path))
    return len(paths) - len(left), tuple(left)


async def sweep(
    store: Store,
    workspaces: Path,
    max_age_seconds: float,
    now: float,
    mirrors: Path | None = None,
) -> SweepReport:
    """Remove what is older than `max_age_seconds` at `now`; never a running job's workspace,
    nor a mirror a job is cloning from."""
    before = now - max_age_seconds
    pruned = await store.prune(before)
    unused_mirrors = 0
    if mirrors is not None:
        unused_mirrors = await asyncio.to_thread(remove_unused_mirrors, mirrors, before)
    running_since = await store.running_since()
    if running_since is not None:
        before = min(before, running_since - WORKSPACE_MARGIN_SECONDS)
    paths = await asyncio.to_thread(old_workspaces, workspaces, before)
    removed, left = await asyncio.to_thread(remove_workspaces, paths)
    return SweepReport(pruned, removed, left, unused_mirrors)


async def sweep_periodically(
    store: Store,
    settings: Settings,
    metrics: Metrics,
    interval_seconds: float = SWEEP_INTERVAL_SECONDS,
) -> None:
    """At start-up and then every `interval_seconds`: a failed run is logged and tried next time."""
    log = get_logger()
    while True:
        try:
            report = await sweep(
                store,
                workspaces_of(settings),
                settings.retention_days * DAY_SECONDS,
                time.time(),
                mirrors_of(settings),
            )
        except (StoreUnavailable, OSError) as error:
            metrics.retention_runs.labels(outcome="failed").inc()
            log.warning("retention.failed", error=type(error).__name__, detail=str(error)[:200])
        else:
            metrics.retention_runs.labels(outcome="ok").inc()
            for record, count in report.counts().items():
                metrics.retention_removed.labels(record=record).inc(count)
            log.info("retention.swept", older_than_days=settings.retention_days, **report.counts())
            if report.workspaces_left:
                log.warning(
                    "retention.workspaces_left",
                    paths=list(report.workspaces_left),
                    remedy="the service's user cannot delete them: remove them by hand",
                )
        await asyncio.sleep(interval_seconds)


def describe(report: SweepReport, days: int) -> list[str]:
    """What `fixwright prune` prints."""
    counts = report.counts()
    lines = [
        f"removed what was older than {days} days:",
        f"  deliveries: {counts['deliveries']}",
        f"  finished jobs' payloads and logs: {counts['job_payloads']}"
        f" ({counts['job_events']} log entries)",
        f"  audit trail entries: {counts['audit']}",
        f"  work branches' conversations nobody continued: {counts['conversations']}",
        f"  decided approval requests: {counts['approvals']}",
        f"  workspace directories: {counts['workspaces']}",
        f"  repository mirrors no job used: {counts['mirrors']}",
    ]
    return lines + [f"could not remove {path}" for path in report.workspaces_left]
