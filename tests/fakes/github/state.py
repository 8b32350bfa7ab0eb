"""What the fake GitHub knows, in plain dataclasses that tests set up and read for assertions."""

from __future__ import annotations

import itertools
import secrets
import string
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.fakes.github import gitrepo
from tests.fakes.github.records import (
    AccessToken,
    CheckRun,
    Comment,
    ForcedResponse,
    Installation,
    Issue,
    PullRequest,
    Reaction,
    RecordedRequest,
    Repository,
    Review,
    ReviewReply,
    User,
    now,
)


@dataclass
class GitHubState:
    """Everything the fake serves; the server mutates it, tests read it."""

    root: Path
    app_id: int
    public_key: str
    app_slug: str = "fixwright"
    base_url: str = ""  # the REST API's root
    web_url: str = ""  # the web root (git, `html_url`s) when it differs from the API's, as on GHES
    token_lifetime: timedelta = timedelta(hours=1)
    users: dict[str, User] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    repositories: dict[str, Repository] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict, repr=False)
    issues: dict[tuple[str, int], Issue] = field(default_factory=dict)
    pulls: dict[tuple[str, int], PullRequest] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    reactions: list[Reaction] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    review_replies: list[ReviewReply] = field(default_factory=list)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    collaborator_permissions: dict[tuple[str, str], str] = field(default_factory=dict)
    forced: dict[tuple[str, str], deque[ForcedResponse]] = field(default_factory=dict)
    delays: dict[tuple[str, str], float] = field(default_factory=dict)
    # run once each, as the next `(method, path)` request is answered (see `after_answer`)
    after: dict[tuple[str, str], deque[Callable[[], object]]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # (method, path, time.monotonic()) as each request arrives, before any delay or fault
    arrivals: list[tuple[str, str, float]] = field(default_factory=list)
    # seconds GitHub's clock is ahead of this machine's (JWTs are checked against it; `Date` says it)
    clock_offset: float = 0.0
    # the App's webhook delivery log (see api_hook_deliveries) and the redeliveries asked for
    hook_deliveries: list[Any] = field(default_factory=list)
    redelivery_requests: list[int] = field(default_factory=list)
    # The manifest flow (api_manifests): the Apps made from posted manifests, the conversion
    # codes not yet used, and the webhook secret of the App made last.
    manifests: list[dict[str, Any]] = field(default_factory=list)
    manifest_codes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    webhook_secret: str = field(default="", repr=False)
    manifest_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def web_root(self) -> str:
        """Where people and git go: the web root, the API's own root on the github.com-like fake."""
        return self.web_url or self.base_url

    # identities

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def user(self, login: str) -> User:
        """The user called `login`, created on first use (bots end in `[bot]`)."""
        if login not in self.users:
            kind = "Bot" if login.endswith("[bot]") else "User"
            self.users[login] = User(login=login, id=self.next_id(), type=kind)
        return self.users[login]

    @property
    def bot_login(self) -> str:
        """The login GitHub gives the App's own comments, reviews and PRs."""
        return f"{self.app_slug}[bot]"

    # set-up

    def add_installation(
        self,
        id: int,
        account: str,
        repositories: Iterable[str],
        permissions: Mapping[str, str],
        account_type: str = "Organization",
    ) -> Installation:
        """Install the App on `account` for `repositories` ("owner/name") with `permissions`."""
        self.user(account).type = account_type
        installation = Installation(
            id=id,
            account=account,
            repositories=list(repositories),
            permissions={"metadata": "read", **permissions},
        )
        self.installations[id] = installation
        return installation

    def add_repository(
        self,
        owner: str,
        name: str,
        files: Mapping[str, str],
        default_branch: str = "main",
        private: bool = False,
    ) -> Repository:
        """Create a bare repository whose default branch holds `files` in one commit."""
        self.user(owner)
        path = self.root / owner / f"{name}.git"
        gitrepo.create_bare(path, files, default_branch)
        repository = Repository(
            id=self.next_id(),
            owner=owner,
            name=name,
            default_branch=default_branch,
            private=private,
            path=path,
        )
        self.repositories[repository.full_name] = repository
        return repository

    def add_issue(
        self,
        repository: str,
        title: str,
        body: str | None = None,
        user: str = "octocat",
        labels: Iterable[str] = (),
    ) -> Issue:
        """Open an issue; it takes the next number shared with pull requests."""
        self.user(user)
        issue = Issue(
            repository=repository,
            number=self._next_number(repository),
            id=self.next_id(),
            title=title,
            body=body,
            user=user,
            labels=list(labels),
        )
        self.issues[(repository, issue.number)] = issue
        return issue

    def open_pull_request(
        self,
        repository: str,
        head: str,
        title: str,
        body: str | None = None,
        base: str | None = None,
        user: str = "octocat",
        draft: bool = False,
    ) -> PullRequest:
        """Open a pull request from branch `head` (which must exist) into `base`."""
        repo = self.repositories[repository]
        if gitrepo.branch_sha(repo.path, head) is None:
            raise ValueError(f"branch {head!r} does not exist in {repository}")
        issue = self.add_issue(repository, title, body, user)
        issue.is_pull_request = True
        pull = PullRequest(
            repository=repository,
            number=issue.number,
            id=self.next_id(),
            head=head,
            base=base or repo.default_branch,
            draft=draft,
        )
        self.pulls[(repository, pull.number)] = pull
        return pull

    def push_branch(
        self,
        repository: str,
        branch: str,
        files: Mapping[str, str | None],
        message: str = "Change files",
        base: str | None = None,
    ) -> str:
        """Commit `files` (None deletes) onto `base` (default branch) as `branch`; return the sha."""
        repo = self.repositories[repository]
        parent = f"refs/heads/{base or repo.default_branch}"
        if gitrepo.branch_sha(repo.path, branch) is not None and base is None:
            parent = f"refs/heads/{branch}"
        return gitrepo.commit_files(repo.path, branch, files, message=message, parent=parent)

    def set_permission(self, repository: str, login: str, permission: str) -> None:
        """Give `login` a collaborator permission (admin, write, read or none) on `repository`."""
        self.user(login)
        self.collaborator_permissions[(repository, login)] = permission

    # fault injection

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 502,
        body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next `method path` request with this response instead of serving it."""
        queue = self.forced.setdefault((method.upper(), path), deque())
        queue.append(ForcedResponse(status=status, body=body, headers=dict(headers or {})))

    def after_answer(self, method: str, path: str, action: Callable[[], object]) -> None:
        """Run `action` once the next `method path` request is answered, before the client reads it.

        It changes GitHub between two calls of the code under test: a push that lands right
        after a pull request was read, say.
        """
        self.after.setdefault((method.upper(), path), deque()).append(action)

    def delay(self, method: str, path: str, seconds: float) -> None:
        """Hold every `method path` request for `seconds` before serving it."""
        self.delays[(method.upper(), path)] = seconds

    # tokens

    def mint_token(
        self,
        installation: Installation,
        repositories: tuple[str, ...],
        permissions: dict[str, str],
        requested_repositories: tuple[str, ...] | None,
        requested_permissions: dict[str, str] | None,
    ) -> AccessToken:
        """Record a new installation token with its scope."""
        alphabet = string.ascii_letters + string.digits
        value = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
        token = AccessToken(
            token=value,
            installation_id=installation.id,
            repositories=repositories,
            permissions=permissions,
            expires_at=now() + self.token_lifetime,
            requested_repositories=requested_repositories,
            requested_permissions=requested_permissions,
        )
        self.tokens[value] = token
        return token

    def minted_tokens(self) -> list[AccessToken]:
        """Every token minted so far, oldest first."""
        return list(self.tokens.values())

    # reading back

    def issue_comments(self, repository: str, number: int) -> list[Comment]:
        """The comments on issue or pull request `number`, oldest first."""
        return [
            c
            for c in self.comments.values()
            if c.repository == repository and c.issue_number == number
        ]

    def pull_reviews(self, repository: str, number: int) -> list[Review]:
        """The reviews submitted on pull request `number`."""
        return [r for r in self.reviews if r.repository == repository and r.pull_number == number]

    def branch_files(self, repository: str, branch: str) -> dict[str, str]:
        """Every file on `branch`, path to content."""
        return gitrepo.read_files(self.repositories[repository].path, f"refs/heads/{branch}")

    def branch_diff(self, repository: str, branch: str, base: str | None = None) -> str:
        """The diff `branch` adds on top of `base` (the default branch unless given)."""
        repo = self.repositories[repository]
        return gitrepo.diff(
            repo.path, f"refs/heads/{base or repo.default_branch}", f"refs/heads/{branch}"
        )

    def branches(self, repository: str) -> list[str]:
        """The branch names of `repository`."""
        return gitrepo.branches(self.repositories[repository].path)

    def _next_number(self, repository: str) -> int:
        taken = [n for (repo, n) in self.issues if repo == repository]
        return max(taken, default=0) + 1
