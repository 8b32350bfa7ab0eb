"""The `fixwright review` check run: the review's progress on the PR's head, never failing it."""

from __future__ import annotations

from typing import Any, Self

from githubkit import GitHub

from handlers.common.check_runs import CheckOutput, CheckRun, Conclusion

QUEUED = CheckOutput("Queued", "fixwright has taken the review up and will start shortly.")


class ReviewCheckRun(CheckRun):
    """`CheckRun` under the review's own name; it always completes `neutral`."""

    @classmethod
    async def start_review(
        cls, github: GitHub[Any], repository: str, *, head_sha: str, job_id: str, name: str
    ) -> Self:
        """The review's check run, queued (the one an earlier attempt made, or a new one)."""
        return await cls.start(
            github,
            repository,
            head_sha=head_sha,
            job_id=job_id,
            name=name,
            queued=QUEUED,
        )

    async def finish(self, title: str, summary: str) -> bool:
        """Completed and neutral: a review informs, it never blocks a merge."""
        return await self.complete(Conclusion.NEUTRAL, title, summary)
