"""Wires jobs to GitHub: each job gets a client on a token scoped to its repository and needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from githubkit import GitHub

from app.config import Settings
from app.errors import JobFailed
from app.github_app import GitHubApp
from app.store import Job


@dataclass(frozen=True)
class GitHubSession:
    """A job's view of GitHub: the REST client, and the token git uses on the host."""

    client: GitHub[Any]
    token: Callable[[], Awaitable[str]]
    app_slug: str  # the App's URL name: its bot account is `<slug>[bot]`


# Opens a GitHub session for a job: an installation token scoped to its repository and permissions.
GitHubConnector = Callable[[Job, Mapping[str, str]], AbstractAsyncContextManager[GitHubSession]]


# In a job's payload: its repository is reached by URL, outside any installation of the App.
OUTSIDE_INSTALLATIONS = "outside_installations"


async def no_installation_token() -> str:
    raise JobFailed(
        "this job's repository is outside any installation of the App, so it has no installation "
        "token",
        "Install the App on the repository and name it by owner and name.",
    )


def connect_with(settings: Settings) -> GitHubConnector:
    """A connector minting down-scoped installation tokens for the App in the settings."""
    github_app = GitHubApp(settings)
    slug: list[str] = []  # fetched once per process, at the first job

    async def app_slug() -> str:
        if not slug:
            client = github_app.app_client()
            app = (await client.rest.apps.async_get_authenticated()).parsed_data
            # GitHub's schema lets GET /app answer null: the bot's name then stays the default.
            slug.append(app.slug if app is not None and app.slug else "fixwright")
        return slug[0]

    @asynccontextmanager
    async def connect(job: Job, permissions: Mapping[str, str]) -> AsyncIterator[GitHubSession]:
        installation_id = job.installation_id
        if installation_id is None and job.payload.get(OUTSIDE_INSTALLATIONS):
            # A task on a repository given by URL: its own token, held in memory, is used for git.
            yield GitHubSession(github_app.app_client(), no_installation_token, await app_slug())
            return
        if installation_id is None:
            raise JobFailed(
                "the delivery named no installation",
                "install the App on the repository and trigger again",
            )

        async def token() -> str:
            minted = await github_app.installation_token(
                installation_id, job.repository, permissions
            )
            return minted.token

        async with github_app.for_job(installation_id, job.repository, permissions) as client:
            yield GitHubSession(client=client, token=token, app_slug=await app_slug())

    return connect
