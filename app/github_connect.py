"""Wires jobs to GitHub: each job gets a client on a token scoped to its repository and needs."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from app.config import Settings
from app.errors import JobFailed
from app.github_app import GitHubApp
from app.store import Job
from app.worker import GitHubConnector


def connect_with(settings: Settings) -> GitHubConnector:
    """A connector minting down-scoped installation tokens for the App in the settings."""
    github_app = GitHubApp(settings)

    def connect(job: Job, permissions: Mapping[str, str]) -> AbstractAsyncContextManager[Any]:
        if job.installation_id is None:
            raise JobFailed(
                "the delivery named no installation",
                "install the App on the repository and trigger again",
            )
        return github_app.for_job(job.installation_id, job.repository, permissions)

    return connect
