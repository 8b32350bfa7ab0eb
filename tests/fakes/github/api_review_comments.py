"""The fake's review comments: `GET /pulls/{n}/comments`, read from the reviews it recorded, and
replies in a review thread (`POST /pulls/{n}/comments/{id}/replies`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github.auth import ApiError, not_found
from tests.fakes.github.payloads import JSON, iso, node_id, user
from tests.fakes.github.records import Review, ReviewReply
from tests.fakes.github.respond import (
    answer,
    body_of,
    number,
    paginated,
    repo_name,
    require,
    required_field,
    state_of,
)
from tests.fakes.github.state import GitHubState

COMMENT_IDS_PER_REVIEW = 1_000


def comment_id(review: Review, index: int) -> int:
    """A stable id for the `index`th inline comment of `review`."""
    return review.id * COMMENT_IDS_PER_REVIEW + index


def review_comment(state: GitHubState, review: Review, index: int, item: dict[str, Any]) -> JSON:
    """A PullRequestReviewComment for one inline comment a review was created with."""
    ident = comment_id(review, index)
    repo = review.repository
    pull_api = f"{state.base_url}/repos/{repo}/pulls/{review.pull_number}"
    api = f"{state.base_url}/repos/{repo}/pulls/comments/{ident}"
    html = f"{state.web_root}/{repo}/pull/{review.pull_number}#discussion_r{ident}"
    side = item.get("side", "RIGHT")
    return {
        "url": api,
        "pull_request_review_id": review.id,
        "id": ident,
        "node_id": node_id("PRRC", ident),
        "diff_hunk": item.get("diff_hunk", ""),
        "path": item["path"],
        "position": None,
        "original_position": None,
        "commit_id": review.commit_id,
        "original_commit_id": review.commit_id,
        "user": user(state, review.user),
        "body": item["body"],
        "created_at": iso(review.submitted_at),
        "updated_at": item.get("updated_at") or iso(review.submitted_at),  # edited: a later time
        "html_url": html,
        "pull_request_url": pull_api,
        "author_association": "NONE" if review.user.endswith("[bot]") else "OWNER",
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "pull_request": {"href": pull_api},
        },
        "start_line": item.get("start_line"),
        "original_start_line": item.get("start_line"),
        "start_side": item.get("start_side", side) if item.get("start_line") else None,
        "line": item.get("line"),
        "original_line": item.get("line"),
        "side": side,
        "subject_type": "line",
        **({"in_reply_to_id": item["in_reply_to"]} if item.get("in_reply_to") else {}),
    }


async def list_review_comments(request: Request) -> Response:
    require(request, "pull_requests", "read")
    state = state_of(request)
    if (repo_name(request), number(request)) not in state.pulls:
        raise not_found()
    reviews = state.pull_reviews(repo_name(request), number(request))
    items = [
        review_comment(state, review, index, item)
        for review in reviews
        for index, item in enumerate(review.comments)
    ]
    return paginated(request, items)


async def list_comments_for_review(request: Request) -> Response:
    require(request, "pull_requests", "read")
    state = state_of(request)
    wanted = number(request, "review_id")
    reviews = [
        review
        for review in state.pull_reviews(repo_name(request), number(request))
        if review.id == wanted
    ]
    if not reviews:
        raise not_found()
    items = [
        review_comment(state, reviews[0], i, item) for i, item in enumerate(reviews[0].comments)
    ]
    return paginated(request, items)


def reply_comment(state: GitHubState, reply: ReviewReply) -> JSON:
    """A PullRequestReviewComment for a reply: a comment of its own, in the thread it answers."""
    repo = reply.repository
    pull_api = f"{state.base_url}/repos/{repo}/pulls/{reply.pull_number}"
    api = f"{state.base_url}/repos/{repo}/pulls/comments/{reply.id}"
    html = f"{state.web_root}/{repo}/pull/{reply.pull_number}#discussion_r{reply.id}"
    return {
        "url": api,
        "pull_request_review_id": None,
        "id": reply.id,
        "node_id": node_id("PRRC", reply.id),
        "diff_hunk": "",
        "path": "",
        "position": None,
        "original_position": None,
        "commit_id": "",
        "original_commit_id": "",
        "in_reply_to_id": reply.in_reply_to,
        "user": user(state, reply.user),
        "body": reply.body,
        "created_at": iso(reply.created_at),
        "updated_at": iso(reply.created_at),
        "html_url": html,
        "pull_request_url": pull_api,
        "author_association": "NONE" if reply.user.endswith("[bot]") else "OWNER",
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "pull_request": {"href": pull_api},
        },
        "subject_type": "line",
    }


async def create_reply(request: Request) -> Response:
    """A reply to a review comment; GitHub refuses a reply to a reply (422) and a body-less one."""
    require(request, "pull_requests", "write")
    state = state_of(request)
    repository, pull_number = repo_name(request), number(request)
    if (repository, pull_number) not in state.pulls:
        raise not_found()
    body = await body_of(request)
    text = required_field(body, "body", "PullRequestReviewComment")
    if not isinstance(text, str) or len(text) > 65_536:
        raise ApiError(422, "Validation Failed", errors=[{"field": "body", "code": "invalid"}])
    in_reply_to = number(request, "comment_id")
    if any(reply.id == in_reply_to for reply in state.review_replies):
        raise ApiError(
            422, "Validation Failed", errors=[{"field": "in_reply_to", "code": "invalid"}]
        )
    reply = ReviewReply(
        id=state.next_id(),
        repository=repository,
        pull_number=pull_number,
        in_reply_to=in_reply_to,
        user=state.bot_login,
        body=text,
    )
    state.review_replies.append(reply)
    return answer(reply_comment(state, reply), status=201)


ROUTES = [
    Route(
        "/repos/{owner}/{repo}/pulls/{number:int}/reviews/{review_id:int}/comments",
        list_comments_for_review,
        methods=["GET"],
    ),
    Route(
        "/repos/{owner}/{repo}/pulls/{number:int}/comments/{comment_id:int}/replies",
        create_reply,
        methods=["POST"],
    ),
    Route(
        "/repos/{owner}/{repo}/pulls/{number:int}/comments", list_review_comments, methods=["GET"]
    ),
]
