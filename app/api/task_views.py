"""How the task API shows a job: any job (a webhook's too) as a task, its links, and a page of
them. The models are the answers' schemas in `/openapi.json`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from app.config import Settings
from app.page_tokens import page_link
from app.store import FINISHED_STATES, Job, JobState, Task


class Links(BaseModel):
    self: str
    events: str
    logs: str
    diff: str
    cancel: str
    page: str | None = Field(default=None, description="the live job page (a signed link)")


class TaskAccepted(BaseModel):
    """What creating a task answers (202; 200 for a repeat of the same idempotent request)."""

    id: str
    status: str
    created_at: str
    links: Links


class FileChanged(BaseModel):
    path: str
    additions: int
    deletions: int


class PullRequest(BaseModel):
    number: int
    url: str
    branch: str = ""
    commit: str = ""


class TaskResult(BaseModel):
    success: bool
    summary: str
    files_changed: list[FileChanged] = Field(default_factory=list)
    pull_request: PullRequest | None = None
    verification: dict[str, Any] | None = None


class TaskView(BaseModel):
    """A job as a task: what it is, where it got to, what it left and what it cost."""

    id: str
    kind: str
    status: str
    repository: str
    external_id: str | None = None
    requested_by: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    summary: str
    result: TaskResult | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    cost_usd: float = 0.0
    links: Links


class TaskList(BaseModel):
    tasks: list[TaskView]
    next: str | None = Field(description="the cursor of the next page; null on the last")


def iso(at: float | None) -> str | None:
    """A store time as RFC 3339 UTC, to the millisecond."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def links(settings: Settings, job_id: str) -> Links:
    base = f"/v1/tasks/{job_id}"
    return Links(
        self=base,
        events=f"{base}/events",
        logs=f"{base}/logs",
        diff=f"{base}/diff",
        cancel=f"{base}/cancel",
        page=page_of(settings, job_id),
    )


def page_of(settings: Settings, job_id: str) -> str | None:
    """The signed link to the job's live page, when the service has a public URL."""
    return page_link(settings, job_id, time.time()) or None


def accepted(settings: Settings, job: Job) -> TaskAccepted:
    return TaskAccepted(
        id=job.id,
        status=job.state.value,
        created_at=iso(job.created_at) or "",
        links=links(settings, job.id),
    )


def result_of(job: Job, task: Task | None) -> TaskResult | None:
    """The task's own result when it left one; a finished webhook job's from its summary."""
    if task is not None and task.result is not None:
        return TaskResult.model_validate(task.result)
    if job.state not in FINISHED_STATES:
        return None
    return TaskResult(success=job.state is JobState.SUCCEEDED, summary=job.summary)


def task_view(settings: Settings, job: Job, task: Task | None) -> TaskView:
    usage = dict(job.usage)
    cost = usage.get("cost_usd", 0.0)
    return TaskView(
        id=job.id,
        kind=job.kind,
        status=job.state.value,
        repository=job.repository,
        external_id=(task.external_id or None) if task else None,
        requested_by=job.requested_by,
        created_at=iso(job.created_at) or "",
        started_at=iso(job.started_at),
        finished_at=iso(job.finished_at),
        summary=job.summary,
        result=result_of(job, task),
        usage=usage,
        cost_usd=float(cost) if isinstance(cost, int | float) else 0.0,
        links=links(settings, job.id),
    )
