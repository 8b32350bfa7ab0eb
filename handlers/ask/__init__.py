"""The question job: `@<slug> <question>` in an issue, a pull request or a review thread gets an
answer in the thread, read from the code, with no change made."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.kinds import CONFIGURED_ROLE, HelpLine, JobKind, Trigger, Words
from handlers.ask.handler import answer_question
from handlers.ask.triggers import NAME, plan_question


@dataclass(frozen=True)
class MentionHelpLine(HelpLine):
    """A `/help` row naming the App as it is mentioned: `{slug}` is the App's slug."""

    def row(self, settings: Settings) -> str:
        slug = settings.app_slug or "<app>"
        return HelpLine(self.how.replace("{slug}", slug), self.where, self.what).row(settings)


KIND = JobKind(
    name=NAME,
    handler=answer_question,
    triggers=(
        Trigger("issue_comment", "created", plan_question),
        Trigger("pull_request_review_comment", "created", plan_question),
    ),
    # Reads the code; writes only the answer (a comment, or a reply in a review thread).
    permissions={
        "contents": "read",
        "issues": "write",
        "pull_requests": "write",
        "metadata": "read",
    },
    least_role=CONFIGURED_ROLE,
    refusal="answers questions",
    metered=True,
    help=(
        MentionHelpLine(
            "`@{slug} <question>`",
            "issue, pull request, review thread",
            "answers the question from the code, changing nothing",
        ),
    ),
    words=Words(
        noun="question",
        # The handler names the App's own slug; this is for the worker's generic failures.
        retry_command="@<app> <question>",
        subject="the question",
        narrow="Ask a narrower question, naming the file or function.",
        check_name="",
    ),
)
