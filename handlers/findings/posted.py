"""The review job's record of the findings it posted, so a later push can tell which were
addressed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.context import Context
from app.store.outcomes import PostedFinding

if TYPE_CHECKING:
    from handlers.review.findings import Finding


async def record_posted(
    context: Context, number: int, commit_sha: str, findings: Sequence[Finding]
) -> None:
    """Keep the findings and count them; a store that refuses is logged, never failing the
    review already posted."""
    job = context.job
    rows = [
        PostedFinding(
            job_id=job.id,
            position=position,
            repository=job.repository,
            number=number,
            commit_sha=commit_sha,
            path=item.path,
            start_line=item.first_line,
            line=item.line,
            side=item.side,
            severity=item.severity,
        )
        for position, item in enumerate(findings)
    ]
    if not rows:
        return
    try:
        added = await context.store.record_review_findings(rows)
    except Exception as error:  # the review stands; only its findings go uncounted
        context.log.error("findings.not_recorded", error=repr(error))
        return
    if context.metrics is not None and added:
        context.metrics.review_findings.labels(state="posted").inc(added)
