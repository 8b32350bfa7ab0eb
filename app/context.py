"""The one object a handler gets besides its event: everything it may touch for this job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from githubkit import GitHub
from structlog.typing import FilteringBoundLogger

from app import job_events
from app.config import Settings
from app.errors import JobFailed
from app.job_events import NewEvent, stored
from app.kinds import JobKind
from app.metrics import Metrics
from app.store import Job, Store
from app.task_secrets import secrets_of
from sandbox.seams import Sandbox, Workspaces


@dataclass(frozen=True)
class Context:
    """Per-job context; handlers never reach for globals."""

    job: Job
    kind: JobKind  # the job's own kind: its words, permissions, retry hint
    kinds: Mapping[str, JobKind]  # every kind, for jobs that speak of others (`/help`, `/cancel`)
    settings: Settings
    github: GitHub[Any]  # authenticated as the installation, scoped to the job's repository
    git_token: Callable[
        [], Awaitable[str]
    ]  # the same token, for git on the host (never the sandbox)
    log: FilteringBoundLogger  # with the delivery, repo and job ids bound
    store: Store
    workspaces: Workspaces  # the host's git: clones, read-backs, commits and pushes
    sandbox: Sandbox | None = None  # None on a node without a Docker engine
    app_slug: str = "fixwright"  # the App's bot account is `<slug>[bot]`
    metrics: Metrics | None = None  # the service's, for what a handler counts itself

    @property
    def delivery_id(self) -> str:
        return self.job.delivery_id

    @property
    def owner_and_name(self) -> tuple[str, str]:
        owner, _, name = self.job.repository.partition("/")
        return owner, name

    def require_sandbox(self) -> Sandbox:
        """The sandbox, or a failure an operator can act on when this node has none."""
        if self.sandbox is None:
            raise JobFailed(
                "this fixwright node has no Docker engine to run Claude Code in",
                "The operator needs to start Docker on the fixwright host; then trigger again.",
            )
        return self.sandbox

    async def record(self, kind: str, data: Mapping[str, Any]) -> int:
        """Append to the job's event log (read by the live log and the task API), redacted and
        capped first."""
        return await append_event(self.store, self.settings, self.job.id, NewEvent(kind, data))

    async def set_usage(self, record: Mapping[str, Any]) -> None:
        """Keep what the job has cost so far on its record, and tell the live readers."""
        await self.store.set_usage(self.job.id, record)
        await self.emit(job_events.usage(record))

    async def emit(self, event: NewEvent | None) -> None:
        """Append a typed event (app/job_events.py); None appends nothing."""
        if event is not None:
            await self.record(event.kind, event.data)


async def append_event(store: Store, settings: Settings, job_id: str, event: NewEvent) -> int:
    """Append an event with every string redacted (the service's secrets and the task's own
    credentials) and cut to its kind's length; the store's watchers wake the live readers."""
    secrets = (*settings.secret_values(), *task_secret_values(job_id))
    safe = stored(event, secrets)
    return await store.append_event(job_id, safe.kind, safe.data)


def task_secret_values(job_id: str) -> tuple[str, ...]:
    held = secrets_of(job_id)
    return held.values() if held is not None else ()
