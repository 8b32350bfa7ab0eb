"""Outcomes: what became of each pull request fixwright opened (merged, closed, reopened,
with its reviews), recorded in the store for the metrics, `GET /v1/stats` and `fixwright stats`."""

from __future__ import annotations

from app.kinds import HelpLine, JobKind, Trigger, Words
from handlers.outcomes.handler import record_outcome
from handlers.outcomes.triggers import NAME, plan_pull_request_outcome

KIND = JobKind(
    name=NAME,
    handler=record_outcome,
    triggers=(
        Trigger("pull_request", "closed", plan_pull_request_outcome),
        Trigger("pull_request", "reopened", plan_pull_request_outcome),
    ),
    # It writes only the store; its token reads the pull request's reviews, nothing more.
    permissions={"metadata": "read", "pull_requests": "read"},
    least_role=None,  # GitHub said it happened: nobody's role is in question
    refusal="",
    metered=False,
    # Nobody asks for it, but people should know their merges and reviews are counted.
    help=(
        HelpLine(
            "merging or closing it",
            "fixwright's pull request",
            "counted in the operator's statistics (`fixwright stats`)",
        ),
    ),
    words=Words(noun="outcome", retry_command="", subject="", narrow="", check_name=""),
)
