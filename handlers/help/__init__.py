"""`/help`: the commands, answered in the thread."""

from __future__ import annotations

from app.kinds import HelpLine, JobKind, Trigger, Words
from handlers.help.reply import NAME, plan_help, post_help

KIND = JobKind(
    name=NAME,
    handler=post_help,
    triggers=(Trigger("issue_comment", "created", plan_help),),
    permissions={"issues": "write", "metadata": "read"},
    least_role=None,  # anyone may ask; answers are posted at most once an hour per person
    refusal="",
    metered=False,
    help=(HelpLine("`/help`", "anywhere", "this message"),),
    words=Words(noun="help", retry_command="/help", subject="", narrow="", check_name=""),
)
