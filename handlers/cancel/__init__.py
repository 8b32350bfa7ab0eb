"""`/cancel`, or the label removed: the target's jobs stop."""

from __future__ import annotations

from app.kinds import CONFIGURED_ROLE, HelpLine, JobKind, Trigger, Words
from handlers.cancel.stop import NAME, cancel_jobs, plan_cancel_command, plan_cancel_on_unlabel

KIND = JobKind(
    name=NAME,
    handler=cancel_jobs,
    triggers=(
        Trigger("issue_comment", "created", plan_cancel_command),
        Trigger("issues", "unlabeled", plan_cancel_on_unlabel),
    ),
    permissions={"issues": "write", "metadata": "read"},
    least_role=CONFIGURED_ROLE,
    refusal="cancels jobs",
    metered=False,
    help=(
        HelpLine(
            "`/cancel` (or remove the label)",
            "issue or pull request",
            "stops the running job and removes its sandbox",
        ),
    ),
    # A cancel that fails is not retried by hand: the job it meant to stop ends anyway.
    words=Words(noun="cancel", retry_command="", subject="", narrow="", check_name=""),
)
