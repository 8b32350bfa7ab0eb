"""The fix job: a labelled issue (or `/fix`) becomes a draft pull request."""

from __future__ import annotations

from app.kinds import CONFIGURED_ROLE, HelpLine, JobKind, Trigger, Words
from handlers.fix.handler import fix_issue
from handlers.fix.triggers import NAME, plan_fix_from_comment, plan_fix_from_label

# What a job that pushes and opens or updates pull requests may do (a fix, a follow-up).
PUSHING_PERMISSIONS = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
    "metadata": "read",
}

KIND = JobKind(
    name=NAME,
    handler=fix_issue,
    triggers=(
        Trigger("issues", "labeled", plan_fix_from_label),
        Trigger("issue_comment", "created", plan_fix_from_comment),
    ),
    permissions=PUSHING_PERMISSIONS,
    least_role=CONFIGURED_ROLE,
    refusal="opens fixes",
    metered=True,
    help=(
        HelpLine(
            "add the `{label}` label", "issue", "opens a draft pull request that fixes the issue"
        ),
        HelpLine("`/fix [instructions]`", "issue", "the same, with extra instructions"),
    ),
    words=Words(
        noun="fix",
        retry_command="/fix",
        subject="the issue",
        narrow="Split the issue into smaller steps, or comment `/fix` with more specific instructions.",
        check_name="fixwright",
    ),
)
