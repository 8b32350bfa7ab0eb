"""The review job: `/review` on a pull request becomes one line-anchored review."""

from __future__ import annotations

from app.kinds import CONFIGURED_ROLE, HelpLine, JobKind, Trigger, Words
from handlers.review.handler import review_pull_request
from handlers.review.triggers import NAME, plan_review

KIND = JobKind(
    name=NAME,
    handler=review_pull_request,
    triggers=(Trigger("issue_comment", "created", plan_review),),
    # Reads the code, writes only the review, its comments and its check run.
    permissions={
        "contents": "read",
        "issues": "write",
        "pull_requests": "write",
        "checks": "write",
        "metadata": "read",
    },
    least_role=CONFIGURED_ROLE,
    refusal="reviews pull requests",
    metered=True,
    help=(
        HelpLine("`/review`", "pull request", "posts a review with comments on the changed lines"),
    ),
    words=Words(
        noun="review",
        retry_command="/review",
        subject="the review",
        narrow="Comment `/review <what to focus on>` to narrow the review down.",
        check_name="fixwright review",
    ),
)
