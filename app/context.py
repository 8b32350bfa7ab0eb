"""The one object a handler gets besides its event: everything it may touch for this job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.store import Job, Store


@dataclass(frozen=True)
class Context:
    """Per-job context; handlers never reach for globals."""

    job: Job
    settings: Settings
    github: (
        Any  # githubkit.GitHub authenticated as the installation, scoped to the job's repository
    )
    log: Any  # structlog logger with the delivery, repo and job ids bound
    store: Store

    @property
    def delivery_id(self) -> str:
        return self.job.delivery_id

    @property
    def owner_and_name(self) -> tuple[str, str]:
        owner, _, name = self.job.repository.partition("/")
        return owner, name

    async def record(self, kind: str, data: Mapping[str, Any]) -> int:
        """Append to the job's event log (read by the live log and the task API)."""
        return await self.store.append_event(self.job.id, kind, data)
