"""The `fixwright` check run a fix job shows on the commit it started from.

It moves queued → in_progress → completed. A retried job finds its own check run again (same
name, `external_id` = job id) instead of adding a second one to the commit. Like the progress
comment, the check run reports on the job: GitHub refusing to update it is logged, and the job
goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self, cast

import structlog
from githubkit import GitHub
from githubkit.exception import GitHubException
from structlog.typing import FilteringBoundLogger

if TYPE_CHECKING:
    from githubkit.rest.paginator import Paginator
    from githubkit_schemas.latest.models import CheckRun as GitHubCheckRun
    from githubkit_schemas.latest.types import (
        ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof0Type,
        ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof1Type,
        ReposOwnerRepoCheckRunsPostBodyOneof0Type,
        ReposOwnerRepoCheckRunsPostBodyOneof1Type,
    )

    # The schema's bodies: one with `status: completed` and a conclusion, one without either.
    CreateBody = (
        ReposOwnerRepoCheckRunsPostBodyOneof0Type | ReposOwnerRepoCheckRunsPostBodyOneof1Type
    )
    UpdateBody = (
        ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof0Type
        | ReposOwnerRepoCheckRunsCheckRunIdPatchBodyAnyof1Type
    )

log: FilteringBoundLogger = structlog.get_logger(__name__)

CHECK_NAME = "fixwright"
TITLE_LIMIT = 200
SUMMARY_LIMIT = 60_000  # GitHub refuses output summaries over 65,535 characters


class Conclusion(StrEnum):
    """The conclusions a fix job ends its check run with."""

    SUCCESS = "success"  # a draft PR holds the fix
    FAILURE = "failure"  # the job could not finish
    NEUTRAL = "neutral"  # Claude answered without changing anything
    CANCELLED = "cancelled"  # someone stopped the job


@dataclass(frozen=True)
class CheckOutput:
    """The check run's output: a one-line title and a Markdown summary."""

    title: str
    summary: str

    def as_json(self) -> dict[str, str]:
        title = " ".join(self.title.split())[:TITLE_LIMIT]
        summary = self.summary
        if len(summary) > SUMMARY_LIMIT:
            summary = summary[:SUMMARY_LIMIT] + "\n\n… (cut short)"
        return {"title": title, "summary": summary}


QUEUED_OUTPUT = CheckOutput("Queued", "fixwright has taken the issue up and will start shortly.")


async def branch_head_sha(github: GitHub[Any], repository: str, branch: str) -> str:
    """The sha of the commit `branch` points at (the check run's head)."""
    owner, _, name = repository.partition("/")
    response = await github.rest.git.async_get_ref(owner, name, f"heads/{branch}")
    return response.parsed_data.object_.sha


class CheckRun:
    """One job's check run on one commit; `id` is None while GitHub has not accepted it."""

    def __init__(
        self,
        github: GitHub[Any],
        repository: str,
        head_sha: str,
        job_id: str,
        name: str = CHECK_NAME,
    ) -> None:
        self._github = github
        self._owner, _, self._name = repository.partition("/")
        self.head_sha = head_sha
        self.job_id = job_id
        self.name = name
        self.id: int | None = None
        self.html_url = ""

    @classmethod
    async def start(
        cls,
        github: GitHub[Any],
        repository: str,
        *,
        head_sha: str,
        job_id: str,
        details_url: str | None = None,
        name: str = CHECK_NAME,
        queued: CheckOutput = QUEUED_OUTPUT,
    ) -> Self:
        """The job's check run, queued: the one an earlier attempt of the job made, or a new one."""
        check = cls(github, repository, head_sha, job_id, name)
        await check.queued(queued, details_url)
        return check

    async def queued(
        self, output: CheckOutput = QUEUED_OUTPUT, details_url: str | None = None
    ) -> bool:
        """Show the check run as queued (creating it, or finding an earlier attempt's)."""
        fields: dict[str, Any] = {"status": "queued", "output": output.as_json()}
        if details_url:
            fields["details_url"] = details_url
        return await self._send("start", fields)

    async def in_progress(self, title: str, summary: str = "") -> bool:
        """Mark the check run in progress, saying what the job is doing; False if GitHub refused."""
        output = CheckOutput(title, summary or f"fixwright: {title}.")
        return await self._send(
            "in_progress", {"status": "in_progress", "output": output.as_json()}
        )

    async def complete(self, conclusion: Conclusion | str, title: str, summary: str) -> bool:
        """Complete the check run with `conclusion`; False when GitHub refused."""
        fields = {
            "status": "completed",
            "conclusion": str(Conclusion(conclusion)),
            "output": CheckOutput(title, summary or title).as_json(),
        }
        return await self._send("complete", fields)

    async def _send(self, step: str, fields: dict[str, Any]) -> bool:
        try:
            if self.id is None:
                self.id = await self._find()
            if self.id is None:
                await self._create(fields)
            else:
                await self._update(fields)
        except GitHubException as error:
            self._warn(step, error)
            return False
        return True

    async def _find(self) -> int | None:
        """The check run a previous attempt of this job made on the same commit."""
        pages: Paginator[GitHubCheckRun] = self._github.rest.paginate(
            self._github.rest.checks.async_list_for_ref,
            owner=self._owner,
            repo=self._name,
            ref=self.head_sha,
            check_name=self.name,
            filter_="all",
            per_page=100,
            map_func=lambda response: response.parsed_data.check_runs,
        )
        async for run in pages:
            if run.external_id == self.job_id:
                self.html_url = run.html_url or ""
                return run.id
        return None

    async def _create(self, fields: dict[str, Any]) -> None:
        # `fields` is one of the schema's bodies: queued and in_progress carry no conclusion,
        # completed carries one (see `queued`, `in_progress` and `complete`).
        body = {"name": self.name, "head_sha": self.head_sha, "external_id": self.job_id, **fields}
        response = await self._github.rest.checks.async_create(
            self._owner, self._name, data=cast("CreateBody", body)
        )
        self.id = response.parsed_data.id
        self.html_url = response.parsed_data.html_url or ""

    async def _update(self, fields: dict[str, Any]) -> None:
        assert self.id is not None
        await self._github.rest.checks.async_update(
            self._owner, self._name, self.id, data=cast("UpdateBody", fields)
        )

    def _warn(self, step: str, error: GitHubException) -> None:
        response = getattr(error, "response", None)
        log.warning(
            "check_run_failed",
            step=step,
            job_id=self.job_id,
            error=type(error).__name__,
            status=getattr(response, "status_code", None),
        )
