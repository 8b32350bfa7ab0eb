"""The `fixwright review` check run: the review's progress on the PR's head, never failing it."""

from __future__ import annotations

from typing import Any

from handlers.check_runs import CheckOutput, CheckRun, Conclusion

REVIEW_CHECK_NAME = "fixwright review"
QUEUED = CheckOutput("Queued", "fixwright has taken the review up and will start shortly.")


class ReviewCheckRun(CheckRun):
    """`CheckRun` under the review's own name; it always completes `neutral`."""

    @classmethod
    async def start_review(
        cls, github: Any, repository: str, *, head_sha: str, job_id: str
    ) -> ReviewCheckRun:
        """The review's check run, queued (the one an earlier attempt made, or a new one)."""
        check = cls(github, repository, head_sha, job_id)
        await check._send("start", {"status": "queued", "output": QUEUED.as_json()})
        return check

    async def finish(self, title: str, summary: str) -> bool:
        """Completed and neutral: a review informs, it never blocks a merge."""
        return await self.complete(Conclusion.NEUTRAL, title, summary)

    async def _find(self) -> int | None:
        pages = self._github.rest.paginate(
            self._github.rest.checks.async_list_for_ref,
            owner=self._owner,
            repo=self._name,
            ref=self.head_sha,
            check_name=REVIEW_CHECK_NAME,
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
        response = await self._github.rest.checks.async_create(
            self._owner,
            self._name,
            data={
                "name": REVIEW_CHECK_NAME,
                "head_sha": self.head_sha,
                "external_id": self.job_id,
                **fields,
            },
        )
        self.id = response.parsed_data.id
        self.html_url = response.parsed_data.html_url or ""
