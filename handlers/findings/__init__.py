"""Findings addressed: a push to a pull request fixwright reviewed marks the findings whose
lines it changed, for the metrics and `fixwright stats`."""

from __future__ import annotations

from app.kinds import HelpLine, JobKind, Trigger, Words
from handlers.findings.handler import check_findings
from handlers.findings.triggers import NAME, plan_findings_check

KIND = JobKind(
    name=NAME,
    handler=check_findings,
    triggers=(Trigger("pull_request", "synchronize", plan_findings_check),),
    # It compares commits (contents: read) and writes only the store.
    permissions={"contents": "read", "metadata": "read"},
    least_role=None,  # GitHub said a push happened: nobody's role is in question
    refusal="",
    metered=False,
    help=(
        HelpLine(
            "pushing to a pull request fixwright reviewed",
            "pull request",
            "findings whose lines changed are counted as addressed",
        ),
    ),
    words=Words(noun="findings check", retry_command="", subject="", narrow="", check_name=""),
    # Every push to every pull request plans one: a repository's invalid settings file must not
    # answer each push with a failure comment, and nothing here acts on a setting.
    honours_repo_config=False,
)
