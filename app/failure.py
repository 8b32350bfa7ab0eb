"""Telling the GitHub thread why a job failed, in words, with what to do next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from githubkit import GitHub
from githubkit.exception import GitHubException, RateLimitExceeded, RequestFailed

from app.kinds import Words
from app.store import Job

FAILURE_MARKER = "<!-- fixwright:failure -->"


def failure_comment(job: Job, words: Words | None, reason: str, next_step: str = "") -> str:
    """The comment text: what failed, why, and the next step (the kind's retry hint when none is
    given). `words` is None for a job of a kind this version no longer declares."""
    step = next_step or (words.retry_hint if words else "")
    noun = words.noun if words else job.kind
    return (
        f"{FAILURE_MARKER}\n"
        f"**fixwright could not finish this {noun} job:** {reason}\n\n"
        f"{step}\n\n"
        f"<sub>job `{job.id}` · attempt {job.attempts}</sub>"
    ).replace("\n\n\n", "\n\n")


async def tell_thread(
    github: GitHub[Any], job: Job, words: Words | None, reason: str, next_step: str = ""
) -> None:
    """Post the failure comment on the job's issue or pull request."""
    if job.number is None:
        return
    owner, _, name = job.repository.partition("/")
    await github.rest.issues.async_create_comment(
        owner, name, job.number, body=failure_comment(job, words, reason, next_step)
    )


def github_failure(error: GitHubException) -> tuple[str, str]:
    """(reason, next step) when GitHub's API itself refused or failed, in words."""
    if isinstance(error, RateLimitExceeded):
        resets = datetime.now(UTC) + error.retry_after
        return (
            f"GitHub's API rate limit was reached (it resets at {resets:%H:%M} UTC).",
            f"Wait until {resets:%H:%M} UTC.",
        )
    if isinstance(error, RequestFailed):
        request = error.request
        return (
            f"GitHub's API answered {error.response.status_code} to {request.method} "
            f"{request.url.path}: a GitHub API error.",
            "If GitHub is having an incident, wait for it to pass.",
        )
    return (
        f"GitHub's API could not be reached ({type(error).__name__}).",
        "The operator should check the network between fixwright and GitHub.",
    )
