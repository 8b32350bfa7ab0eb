"""What asks a question: a new comment by a human whose first line mentions the App, `@<slug> …`.

Pure, at intake: the App's slug comes from the settings (`FIXWRIGHT_APP_SLUG`, or learned from
GitHub at start, app/app_slug.py); without it no comment is a question. A question's job has a
target of its own (the thread and the comment), so two questions on one issue are both answered
(a newer trigger of a kind supersedes an older one of the same target) and a question, which only
reads, never waits behind a fix of the same issue.
"""

from __future__ import annotations

import dataclasses

from app.config import Settings
from app.events import WebhookEvent
from app.store import NewJob
from handlers.common.commands import is_human_trigger, job_for

NAME = "ask"
# What may follow the mention: a GitHub login never holds these, so `@fixwright:` is the App and
# `@fixwright-dev` or `@fixwright_x` is someone else.
AFTER_MENTION = frozenset(" \t,:;.!?")
COMMENT_EVENTS = ("issue_comment", "pull_request_review_comment")


def first_line(body: str) -> str:
    """The comment's first non-blank line, stripped."""
    for line in body.splitlines():
        if line.strip():
            return line.strip()
    return ""


def mentions_app(body: str, slug: str) -> bool:
    """Whether the comment's first non-blank line starts with `@<slug>` as a whole word."""
    line = first_line(body)
    mention = f"@{slug}"
    if not slug or line[: len(mention)].lower() != mention.lower():
        return False
    rest = line[len(mention) :]
    return not rest or rest[0] in AFTER_MENTION


def question_text(body: str) -> str:
    """The question: the comment without its leading mention (and the punctuation after it)."""
    text = body.strip()
    if not text.startswith("@"):
        return text
    end = 1
    while end < len(text) and text[end] not in AFTER_MENTION and not text[end].isspace():
        end += 1
    return text[end:].lstrip(" \t,:;.!?").strip()


def is_new_comment(event: WebhookEvent) -> bool:
    """A comment just written by a human: edits and bots (the App itself) never ask."""
    return event.name in COMMENT_EVENTS and event.action == "created" and is_human_trigger(event)


def plan_question(event: WebhookEvent, settings: Settings) -> NewJob | None:
    """`@<slug> <question>` in an issue, a pull request, or a review thread."""
    if not is_new_comment(event) or not mentions_app(event.comment_body, settings.app_slug):
        return None
    if not question_text(event.comment_body) or event.comment_id is None:
        return None
    job = job_for(event, NAME)
    if job is None:
        return None
    return dataclasses.replace(job, target=f"{job.target}/ask-{event.comment_id}")
