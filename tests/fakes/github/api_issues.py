"""The fake's issue endpoints: issues, comments, reactions, labels."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github import payloads, payloads_issues
from tests.fakes.github.auth import ApiError, not_found
from tests.fakes.github.records import Comment, Issue, Reaction, now
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

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def _issue(request: Request) -> Issue:
    found = state_of(request).issues.get((repo_name(request), number(request)))
    if found is None:
        raise not_found()
    return found


def _require_on_issue(request: Request, level: str) -> Issue:
    """Issues permission, or pull requests permission when the number is a pull request."""
    require(request, "metadata", "read")
    item = _issue(request)
    require(request, "issues", level, "pull_requests" if item.is_pull_request else None)
    return item


def _comment(request: Request) -> Comment:
    found = state_of(request).comments.get(number(request, "comment_id"))
    if found is None or found.repository != repo_name(request):
        raise not_found()
    return found


def _require_on_comment(request: Request, level: str) -> Comment:
    require(request, "metadata", "read")
    item = _comment(request)
    is_pull = state_of(request).issues[(item.repository, item.issue_number)].is_pull_request
    require(request, "issues", level, "pull_requests" if is_pull else None)
    return item


async def get_issue(request: Request) -> Response:
    item = _require_on_issue(request, "read")
    return answer(payloads_issues.issue(state_of(request), item))


async def list_comments(request: Request) -> Response:
    item = _require_on_issue(request, "read")
    state = state_of(request)
    comments = state.issue_comments(item.repository, item.number)
    return paginated(request, [payloads_issues.comment(state, c) for c in comments])


async def create_comment(request: Request) -> Response:
    item = _require_on_issue(request, "write")
    text = required_field(await body_of(request), "body", "IssueComment")
    state = state_of(request)
    created = Comment(
        id=state.next_id(),
        repository=item.repository,
        issue_number=item.number,
        body=text,
        user=state.bot_login,
    )
    state.comments[created.id] = created
    item.updated_at = now()
    return answer(payloads_issues.comment(state, created), status=201)


async def get_comment(request: Request) -> Response:
    return answer(payloads_issues.comment(state_of(request), _require_on_comment(request, "read")))


async def update_comment(request: Request) -> Response:
    item = _require_on_comment(request, "write")
    item.body = required_field(await body_of(request), "body", "IssueComment")
    item.updated_at = now()
    return answer(payloads_issues.comment(state_of(request), item))


async def _react(request: Request, subject: str, subject_id: int) -> Response:
    content = required_field(await body_of(request), "content", "Reaction")
    if content not in REACTIONS:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Reaction", "code": "invalid", "field": "content"}],
        )
    state = state_of(request)
    wanted = (repo_name(request), subject, subject_id, content, state.bot_login)
    for existing in state.reactions:
        key = (existing.repository, existing.subject, existing.subject_id, existing.content)
        if (*key, existing.user) == wanted:
            return answer(
                payloads_issues.reaction(state, existing)
            )  # GitHub answers 200 for a repeat
    created = Reaction(
        id=state.next_id(),
        repository=repo_name(request),
        subject=subject,
        subject_id=subject_id,
        content=content,
        user=state.bot_login,
    )
    state.reactions.append(created)
    return answer(payloads_issues.reaction(state, created), status=201)


async def react_to_issue(request: Request) -> Response:
    item = _require_on_issue(request, "write")
    return await _react(request, "issue", item.number)


async def react_to_comment(request: Request) -> Response:
    item = _require_on_comment(request, "write")
    return await _react(request, "comment", item.id)


async def add_labels(request: Request) -> Response:
    item = _require_on_issue(request, "write")
    names = (await body_of(request)).get("labels", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError(422, "Invalid request.\n\nFor 'labels', is not an array of strings.")
    item.labels.extend(name for name in names if name not in item.labels)
    item.updated_at = now()
    state = state_of(request)
    return answer([payloads.label(state, item.repository, name) for name in item.labels])


async def remove_label(request: Request) -> Response:
    item = _require_on_issue(request, "write")
    name = request.path_params["name"]
    if name not in item.labels:
        raise ApiError(404, "Label does not exist")
    item.labels.remove(name)
    item.updated_at = now()
    state = state_of(request)
    return answer([payloads.label(state, item.repository, label) for label in item.labels])


async def create_issue(request: Request) -> Response:
    """Open an issue as the App (a schedule's run whose output is an issue)."""
    require(request, "issues", "write")
    fields = await body_of(request)
    title = required_field(fields, "title", "Issue")
    state = state_of(request)
    text = fields.get("body")
    created = state.add_issue(
        repo_name(request), str(title), str(text) if text is not None else None, state.bot_login
    )
    return answer(payloads_issues.issue(state, created), status=201)


_ISSUE = "/repos/{owner}/{repo}/issues/{number:int}"
_COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id:int}"

ROUTES = [
    Route("/repos/{owner}/{repo}/issues", create_issue, methods=["POST"]),
    Route(_ISSUE, get_issue, methods=["GET"]),
    Route(f"{_ISSUE}/comments", list_comments, methods=["GET"]),
    Route(f"{_ISSUE}/comments", create_comment, methods=["POST"]),
    Route(_COMMENT, get_comment, methods=["GET"]),
    Route(_COMMENT, update_comment, methods=["PATCH"]),
    Route(f"{_ISSUE}/reactions", react_to_issue, methods=["POST"]),
    Route(f"{_COMMENT}/reactions", react_to_comment, methods=["POST"]),
    Route(f"{_ISSUE}/labels", add_labels, methods=["POST"]),
    Route(f"{_ISSUE}/labels/{{name}}", remove_label, methods=["DELETE"]),
]
