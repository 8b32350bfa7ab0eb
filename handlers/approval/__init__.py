"""`/approve` and `/deny [reason]`: a maintainer decides a request waiting for approval; and the
notice on a thread whose request expired."""

from __future__ import annotations

from app.kinds import HelpLine, JobKind, Trigger, Words
from handlers.approval.handler import decide_request
from handlers.approval.triggers import NAME, plan_decision

KIND = JobKind(
    name=NAME,
    handler=decide_request,
    triggers=(Trigger("issue_comment", "created", plan_decision),),
    # contents: read, so the repository's `.github/fixwright.yml` (its `approval:` and
    # `trigger_permission`) narrows who may approve, as it narrows who may trigger.
    permissions={
        "contents": "read",
        "issues": "write",
        "pull_requests": "write",
        "metadata": "read",
    },
    least_role=None,  # anyone may comment; the handler checks the approver against the request
    refusal="",
    metered=False,
    help=(
        HelpLine(
            "`/approve` or `/deny [reason]`",
            "issue or pull request",
            "starts, or drops, the request waiting there for a maintainer's approval",
        ),
    ),
    # A decision that fails is simply made again.
    words=Words(noun="decision", retry_command="", subject="", narrow="", check_name=""),
)
