"""Real webhook payloads from the @octokit/webhooks-examples corpus (installed by tests/setup.sh)."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

# The fake GitHub's admin on its repositories: the default author of test deliveries.
MAINTAINER = "octocat"
# Each comment a test writes is a new one, as on GitHub: its body is never that of another.
COMMENT_IDS = itertools.count(900_001)

CORPUS = (
    Path(__file__).resolve().parent
    / ".corpus/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)


@cache
def _corpus() -> list[dict[str, Any]]:
    if not CORPUS.is_file():
        raise FileNotFoundError(f"{CORPUS} is missing: run `bash tests/setup.sh` to install it")
    return json.loads(CORPUS.read_text())


def all_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every (event name, payload) pair of the corpus."""
    return [(entry["name"], example) for entry in _corpus() for example in entry["examples"]]


def example(event: str, action: str | None = None) -> dict[str, Any]:
    """A fresh copy of the first example of an event (and action)."""
    for name, payload in all_examples():
        if name == event and (action is None or payload.get("action") == action):
            return copy.deepcopy(payload)
    raise LookupError(f"no example of {event}.{action} in the corpus")


def github_time(moment: datetime | None = None) -> str:
    """A time as GitHub writes it in payloads (UTC, whole seconds); now by default."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def aimed_at(
    payload: dict[str, Any], *, repository: str, installation_id: int, sender: str = MAINTAINER
) -> dict[str, Any]:
    """The payload re-pointed at a repository and installation of the fake GitHub, sent by a human."""
    owner, name = repository.split("/")
    payload["repository"] = {
        **payload.get("repository", {}),
        "name": name,
        "full_name": repository,
        "owner": {**payload.get("repository", {}).get("owner", {}), "login": owner},
    }
    payload["installation"] = {
        "id": installation_id,
        "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u",
    }
    payload["sender"] = {**payload.get("sender", {}), "login": sender, "type": "User"}
    return payload


def labeled_issue(
    repository: str,
    installation_id: int,
    number: int,
    label: str = "fixwright",
    sender: str = MAINTAINER,
) -> dict[str, Any]:
    """An `issues.labeled` delivery adding `label` to issue `number`, by `sender`, just now.

    The corpus's own times are years old: the intake ignores a trigger that old as a replay.
    """
    payload = aimed_at(
        example("issues", "labeled"),
        repository=repository,
        installation_id=installation_id,
        sender=sender,
    )
    payload["issue"]["number"] = number
    payload["issue"]["updated_at"] = github_time()  # when the label was added
    payload["issue"].pop("pull_request", None)
    payload["label"] = {**payload.get("label", {}), "name": label}
    return payload


def comment_on(
    repository: str,
    installation_id: int,
    number: int,
    body: str,
    *,
    pull: bool = False,
    sender: str = MAINTAINER,
) -> dict[str, Any]:
    """An `issue_comment.created` delivery: a new comment `body` by `sender` on issue (or pull
    request) `number`, written just now."""
    payload = aimed_at(
        example("issue_comment", "created"),
        repository=repository,
        installation_id=installation_id,
        sender=sender,
    )
    payload["issue"]["number"] = number
    payload["comment"]["body"] = body
    payload["comment"]["id"] = next(COMMENT_IDS)
    payload["comment"]["created_at"] = payload["comment"]["updated_at"] = github_time()
    if pull:
        payload["issue"]["pull_request"] = {
            "url": f"https://api.github.com/repos/{repository}/pulls/{number}"
        }
    else:
        payload["issue"].pop("pull_request", None)
    return payload


def review_comment_on(
    repository: str,
    installation_id: int,
    number: int,
    body: str,
    *,
    path: str,
    line: int,
    diff_hunk: str = "",
    sender: str = MAINTAINER,
    in_reply_to: int | None = None,
) -> dict[str, Any]:
    """A `pull_request_review_comment.created` delivery: a new comment `body` by `sender` on line
    `line` of `path` in pull request `number` (a reply in a thread when `in_reply_to` is set)."""
    [payload] = [
        copy.deepcopy(found)
        for name, found in all_examples()
        if name == "pull_request_review_comment"
        and found.get("action") == "created"
        and "line" in found["comment"]
    ][:1]
    payload = aimed_at(
        payload, repository=repository, installation_id=installation_id, sender=sender
    )
    payload["pull_request"]["number"] = number
    comment = payload["comment"]
    comment.update(
        body=body,
        id=next(COMMENT_IDS),
        path=path,
        line=line,
        original_line=line,
        start_line=None,
        diff_hunk=diff_hunk,
        created_at=github_time(),
        updated_at=github_time(),
    )
    comment["user"] = {**comment.get("user", {}), "login": sender, "type": "User"}
    if in_reply_to is not None:
        comment["in_reply_to_id"] = in_reply_to
    return payload


def review_submitted(
    repository: str,
    installation_id: int,
    number: int,
    body: str,
    *,
    state: str = "changes_requested",
    sender: str = MAINTAINER,
) -> dict[str, Any]:
    """A `pull_request_review.submitted` delivery: a review of pull request `number` by `sender`,
    submitted just now with `body` and `state` (`changes_requested`, `commented`, `approved`)."""
    payload = aimed_at(
        example("pull_request_review", "submitted"),
        repository=repository,
        installation_id=installation_id,
        sender=sender,
    )
    payload["pull_request"]["number"] = number
    review = payload["review"]
    review.update(body=body, state=state, id=next(COMMENT_IDS), submitted_at=github_time())
    review["user"] = {**review.get("user", {}), "login": sender, "type": "User"}
    return payload
