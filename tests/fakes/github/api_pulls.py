"""The fake's pull request and check run endpoints, backed by the real bare repositories."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import gitrepo, payloads_pulls, pull_heads
from tests.fakes.github.auth import ApiError, not_found
from tests.fakes.github.records import PullRequest, Review, now
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

REVIEW_STATES = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def invalid(resource: str, field: str, code: str = "invalid", **extra: Any) -> ApiError:
    """GitHub's 422; custom errors carry a message instead of naming a field."""
    detail = {"resource": resource, "code": code, **extra}
    if code != "custom":
        detail["field"] = field
    return ApiError(422, "Validation Failed", errors=[detail])


async def _shas(state: GitHubState, pull: PullRequest) -> tuple[str, str]:
    path = state.repositories[pull.repository].path
    head = await asyncio.to_thread(pull_heads.sync_head_ref, state, pull)
    base = await asyncio.to_thread(gitrepo.branch_sha, path, pull.base)
    return head or "0" * 40, base or "0" * 40


async def _pull_json(state: GitHubState, pull: PullRequest, full: bool = True) -> dict[str, Any]:
    return payloads_pulls.pull_request(state, pull, await _shas(state, pull), full=full)


def _pull(request: Request) -> PullRequest:
    found = state_of(request).pulls.get((repo_name(request), number(request)))
    if found is None:
        raise not_found()
    return found


def _branch_name(head: str, owner: str) -> str:
    """`owner:branch` or `branch` to the branch name (heads from forks are not modelled)."""
    prefix, sep, rest = head.partition(":")
    return rest if sep and prefix == owner else head


async def create_pull(request: Request) -> Response:
    require(request, "pull_requests", "write")
    state = state_of(request)
    repo = state.repositories[repo_name(request)]
    body = await body_of(request)
    title = required_field(body, "title", "PullRequest")
    head = _branch_name(required_field(body, "head", "PullRequest"), repo.owner)
    base = required_field(body, "base", "PullRequest")
    if await asyncio.to_thread(gitrepo.branch_sha, repo.path, head) is None:
        raise invalid("PullRequest", "head")
    if await asyncio.to_thread(gitrepo.branch_sha, repo.path, base) is None:
        raise invalid("PullRequest", "base")
    for existing in state.pulls.values():
        issue = state.issues[(existing.repository, existing.number)]
        if (existing.repository, existing.head, issue.state) == (repo.full_name, head, "open"):
            raise invalid(
                "PullRequest",
                "head",
                "custom",
                message=f"A pull request already exists for {repo.owner}:{head}.",
            )
    if not await asyncio.to_thread(
        gitrepo.diff, repo.path, f"refs/heads/{base}", f"refs/heads/{head}"
    ):
        raise invalid(
            "PullRequest", "head", "custom", message=f"No commits between {base} and {head}"
        )
    pull = await asyncio.to_thread(
        state.open_pull_request,
        repo.full_name,
        head,
        title,
        body.get("body"),
        base,
        state.bot_login,
        bool(body.get("draft")),
    )
    pull.maintainer_can_modify = bool(body.get("maintainer_can_modify", True))
    return answer(await _pull_json(state, pull), status=201)


async def list_pulls(request: Request) -> Response:
    require(request, "pull_requests", "read")
    state = state_of(request)
    name = repo_name(request)
    wanted_state = request.query_params.get("state", "open")
    head = request.query_params.get("head")
    base = request.query_params.get("base")
    owner = request.path_params["owner"]
    found = []
    for pull in state.pulls.values():
        issue = state.issues[(pull.repository, pull.number)]
        if pull.repository != name or wanted_state not in ("all", issue.state):
            continue
        if head and f"{owner}:{pull.head}" != head:
            continue
        if base and pull.base != base:
            continue
        found.append(await _pull_json(state, pull, full=False))
    found.sort(key=lambda item: item["number"], reverse=True)
    return paginated(request, found)


async def get_pull(request: Request) -> Response:
    require(request, "pull_requests", "read")
    return answer(await _pull_json(state_of(request), _pull(request)))


async def update_pull(request: Request) -> Response:
    require(request, "pull_requests", "write")
    state = state_of(request)
    pull = _pull(request)
    issue = state.issues[(pull.repository, pull.number)]
    body = await body_of(request)
    if body.get("state") not in (None, "open", "closed"):
        raise invalid("PullRequest", "state")
    issue.title = body.get("title", issue.title)
    issue.body = body.get("body", issue.body)
    if "state" in body:
        issue.state = body["state"]
        issue.closed_at = now() if issue.state == "closed" else None
    pull.base = body.get("base", pull.base)
    issue.updated_at = now()
    return answer(await _pull_json(state, pull))


async def list_files(request: Request) -> Response:
    require(request, "pull_requests", "read")
    state = state_of(request)
    pull = _pull(request)
    files = await _changed_files(state, pull)
    return paginated(request, [payloads_pulls.diff_entry(state, pull.repository, f) for f in files])


async def _changed_files(state: GitHubState, pull: PullRequest) -> list[gitrepo.ChangedFile]:
    path = state.repositories[pull.repository].path
    await asyncio.to_thread(pull_heads.sync_head_ref, state, pull)
    head = pull_heads.pull_ref(pull.number)
    return await asyncio.to_thread(gitrepo.changed_files, path, f"refs/heads/{pull.base}", head)


def commentable_lines(patch: str) -> dict[str, set[int]]:
    """The lines a review comment may anchor to, per side, read from a file's diff hunks."""
    lines: dict[str, set[int]] = {"LEFT": set(), "RIGHT": set()}
    left = right = 0
    for row in patch.splitlines():
        if match := HUNK.match(row):
            left, right = int(match.group(1)), int(match.group(3))
        elif row.startswith("-"):
            lines["LEFT"].add(left)
            left += 1
        elif row.startswith("+"):
            lines["RIGHT"].add(right)
            right += 1
        elif not row.startswith("\\"):
            lines["LEFT"].add(left)
            lines["RIGHT"].add(right)
            left, right = left + 1, right + 1
    return lines


def _check_review_comments(
    comments: list[dict[str, Any]], files: list[gitrepo.ChangedFile]
) -> None:
    """Reject comments whose path or line is outside the diff, as GitHub does."""
    patches = {f.filename: commentable_lines(f.patch) for f in files}
    for item in comments:
        if not item.get("body") or not item.get("path"):
            raise ApiError(422, "Unprocessable Entity", errors=["Path and body are required"])
        allowed = patches.get(item["path"])
        side = item.get("side", "RIGHT")
        start_side = item.get("start_side", side)
        anchors = [(side, item.get("line")), (start_side, item.get("start_line"))]
        unanchored = item.get("line") is None and item.get("position") is None
        outside = allowed is None or any(
            a is not None and a not in allowed.get(s, set()) for s, a in anchors
        )
        if item.get("start_line") is not None and item.get("line") is not None:
            outside = outside or item["start_line"] >= item["line"]
        if unanchored or outside:
            raise ApiError(422, "Unprocessable Entity", errors=["Line could not be resolved"])


async def create_review(request: Request) -> Response:
    require(request, "pull_requests", "write")
    state = state_of(request)
    pull = _pull(request)
    body = await body_of(request)
    event = body.get("event")
    if event is not None and event not in REVIEW_STATES:
        raise invalid("PullRequestReview", "event")
    if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body"):
        raise ApiError(
            422, "Unprocessable Entity", errors=[f"Body is required for {event.lower()} reviews"]
        )
    author = state.issues[(pull.repository, pull.number)].user
    if event in ("APPROVE", "REQUEST_CHANGES") and author == state.bot_login:
        raise ApiError(
            422, "Unprocessable Entity", errors=["Can not approve your own pull request"]
        )
    comments = list(body.get("comments") or [])
    head_sha, _ = await _shas(state, pull)
    commit_id = body.get("commit_id") or head_sha
    # Comments anchor to the diff at `commit_id`, which need not be the head any more.
    path = state.repositories[pull.repository].path
    if await asyncio.to_thread(gitrepo.rev_parse, path, commit_id) is None:
        raise ApiError(
            422, "Unprocessable Entity", errors=[f"No commit found for SHA: {commit_id}"]
        )
    base = f"refs/heads/{pull.base}"
    _check_review_comments(
        comments, await asyncio.to_thread(gitrepo.changed_files, path, base, commit_id)
    )
    review = Review(
        id=state.next_id(),
        repository=pull.repository,
        pull_number=pull.number,
        user=state.bot_login,
        body=body.get("body") or "",
        state=REVIEW_STATES.get(event, "PENDING"),
        commit_id=commit_id,
        comments=comments,
    )
    state.reviews.append(review)
    return answer(payloads_pulls.review(state, review))


async def list_reviews(request: Request) -> Response:
    require(request, "pull_requests", "read")
    state = state_of(request)
    pull = _pull(request)
    reviews = state.pull_reviews(pull.repository, pull.number)
    return paginated(request, [payloads_pulls.review(state, r) for r in reviews])


async def update_review(request: Request) -> Response:
    require(request, "pull_requests", "write")
    state = state_of(request)
    pull = _pull(request)
    wanted = number(request, "review_id")
    for review in state.pull_reviews(pull.repository, pull.number):
        if review.id == wanted:
            review.body = required_field(await body_of(request), "body", "PullRequestReview")
            return answer(payloads_pulls.review(state, review))
    raise not_found()


_PULLS = "/repos/{owner}/{repo}/pulls"
_PULL = _PULLS + "/{number:int}"

ROUTES = [
    Route(_PULLS, create_pull, methods=["POST"]),
    Route(_PULLS, list_pulls, methods=["GET"]),
    Route(_PULL, get_pull, methods=["GET"]),
    Route(_PULL, update_pull, methods=["PATCH"]),
    Route(f"{_PULL}/files", list_files, methods=["GET"]),
    Route(f"{_PULL}/reviews", create_review, methods=["POST"]),
    Route(f"{_PULL}/reviews", list_reviews, methods=["GET"]),
    Route(f"{_PULL}/reviews/{{review_id:int}}", update_review, methods=["PUT"]),
]
