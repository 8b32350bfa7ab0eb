"""The follow-up: a reviewer's `/fix` or review on fixwright's pull request becomes a new commit
in the same Claude Code session."""

from __future__ import annotations

from app.kinds import CONFIGURED_ROLE, HelpLine, JobKind, Trigger, Words
from handlers.fix import PUSHING_PERMISSIONS
from handlers.followup.handler import follow_up
from handlers.followup.triggers import (
    NAME,
    plan_followup_from_comment,
    plan_followup_from_review,
)

KIND = JobKind(
    name=NAME,
    handler=follow_up,
    triggers=(
        Trigger("issue_comment", "created", plan_followup_from_comment),
        Trigger("pull_request_review", "submitted", plan_followup_from_review),
    ),
    permissions=PUSHING_PERMISSIONS,
    least_role=CONFIGURED_ROLE,
    refusal="revises pull requests",
    metered=True,
    help=(
        HelpLine(
            "`/fix <instructions>`",
            "fixwright's pull request",
            "a new commit on its branch, in the same session",
        ),
        HelpLine(
            "a review with comments",
            "fixwright's pull request",
            "the same, answering in each thread with the commit",
        ),
    ),
    words=Words(
        noun="follow-up",
        retry_command="/fix",
        subject="the request",
        narrow="Ask for one change at a time: comment `/fix` with a narrower instruction.",
        check_name="fixwright",
    ),
)
