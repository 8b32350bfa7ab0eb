"""The question as it stood at the trigger, read from the delivery: never refetched, so an edit
of the question, the issue or the pull request after it was asked is not used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.events import WebhookEvent, dig
from handlers.ask.triggers import question_text

# GitHub's diff hunks for one comment are short; a hostile payload's need not be.
HUNK_LIMIT = 20_000
PATH_LIMIT = 4_096


class Place(StrEnum):
    """Where the question was asked, and so where it is answered."""

    ISSUE = "issue"
    PULL_REQUEST = "pull request"
    REVIEW_THREAD = "review thread"


@dataclass(frozen=True)
class ThreadAnchor:
    """What a question in a review thread is anchored to, and the comment its answer replies to."""

    path: str
    line: int | None
    side: str
    diff_hunk: str
    reply_to: int  # the thread's first comment: GitHub takes no reply to a reply


@dataclass(frozen=True)
class Question:
    """One question: who asked what, where, about which issue or pull request."""

    text: str
    asker: str
    place: Place
    number: int
    title: str
    body: str
    author: str
    comment_id: int
    anchor: ThreadAnchor | None = None


def _text(value: Any, limit: int | None = None) -> str:
    text = value if isinstance(value, str) else ""
    return text[:limit] if limit is not None else text


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _anchor(comment: Mapping[str, Any]) -> ThreadAnchor:
    line = _number(comment.get("line")) or _number(comment.get("original_line"))
    side = comment.get("side")
    return ThreadAnchor(
        path=_text(comment.get("path"), PATH_LIMIT),
        line=line,
        side=side if side in ("LEFT", "RIGHT") else "RIGHT",
        diff_hunk=_text(comment.get("diff_hunk"), HUNK_LIMIT),
        reply_to=_number(comment.get("in_reply_to_id")) or _number(comment.get("id")) or 0,
    )


def question_of(event: WebhookEvent) -> Question:
    """The question of a delivery the planner accepted."""
    payload = event.payload
    comment = payload.get("comment") or {}
    if event.name == "pull_request_review_comment":
        about, place = payload.get("pull_request") or {}, Place.REVIEW_THREAD
        anchor: ThreadAnchor | None = _anchor(comment)
    else:
        about = payload.get("issue") or {}
        place = Place.PULL_REQUEST if event.is_pull_request else Place.ISSUE
        anchor = None
    return Question(
        text=question_text(event.comment_body),
        asker=event.sender_login,
        place=place,
        number=event.issue_number or 0,
        title=_text(about.get("title")),
        body=_text(about.get("body")),
        author=_text(dig(about, "user", "login")) or "unknown",
        comment_id=event.comment_id or 0,
        anchor=anchor,
    )
