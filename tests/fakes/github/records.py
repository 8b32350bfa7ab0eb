"""The fake GitHub's records: users, installations, tokens, issues, pull requests and the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PERMISSION_LEVELS = {"read": 1, "write": 2, "admin": 3}
DEFAULT_EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review_comment"]


def now() -> datetime:
    """The current time in UTC, whole seconds like GitHub's timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class User:
    login: str
    id: int
    type: str = "User"


@dataclass
class Installation:
    id: int
    account: str
    repositories: list[str]
    permissions: dict[str, str]
    events: list[str] = field(default_factory=lambda: list(DEFAULT_EVENTS))
    repository_selection: str = "selected"
    created_at: datetime = field(default_factory=now)


@dataclass
class AccessToken:
    """An installation token and the scope it was minted with."""

    token: str = field(repr=False)
    installation_id: int
    repositories: tuple[str, ...]
    permissions: dict[str, str]
    expires_at: datetime
    requested_repositories: tuple[str, ...] | None
    requested_permissions: dict[str, str] | None
    revoked: bool = False

    def usable(self, at: datetime) -> bool:
        """Neither revoked nor expired at `at`."""
        return not self.revoked and at < self.expires_at

    def allows(self, permission: str, level: str) -> bool:
        """Whether the token was granted `permission` at `level` or higher."""
        granted = self.permissions.get(permission)
        return granted is not None and PERMISSION_LEVELS[granted] >= PERMISSION_LEVELS[level]


@dataclass
class Repository:
    id: int
    owner: str
    name: str
    default_branch: str
    private: bool
    path: Path
    created_at: datetime = field(default_factory=now)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Issue:
    """An issue, or the issue half of a pull request (they share numbers, like GitHub)."""

    repository: str
    number: int
    id: int
    title: str
    body: str | None
    user: str
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    is_pull_request: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None


@dataclass
class Comment:
    id: int
    repository: str
    issue_number: int
    body: str
    user: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class Reaction:
    id: int
    repository: str
    subject: str  # "issue" or "comment"
    subject_id: int  # issue number or comment id
    content: str
    user: str
    created_at: datetime = field(default_factory=now)


@dataclass
class PullRequest:
    repository: str
    number: int
    id: int
    head: str
    base: str
    draft: bool
    maintainer_can_modify: bool = True
    head_repository: str | None = None  # the fork the head branch lives in; None: the same repo
    merged: bool = False


@dataclass
class ReviewReply:
    """A reply in a review thread: a review comment answering the thread's first comment."""

    id: int
    repository: str
    pull_number: int
    in_reply_to: int
    user: str
    body: str
    created_at: datetime = field(default_factory=now)


@dataclass
class Review:
    id: int
    repository: str
    pull_number: int
    user: str
    body: str
    state: str
    commit_id: str
    comments: list[dict[str, object]] = field(default_factory=list)
    submitted_at: datetime = field(default_factory=now)


@dataclass
class CheckRun:
    id: int
    repository: str
    name: str
    head_sha: str
    status: str = "queued"
    conclusion: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    output: dict[str, object] = field(default_factory=dict)
    started_at: datetime = field(default_factory=now)
    completed_at: datetime | None = None


@dataclass
class ForcedResponse:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int
    body: bytes = field(default=b"", repr=False)  # what the client sent, for leak checks
