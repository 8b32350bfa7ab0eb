"""The body of `POST /v1/tasks`, and how its problems are told: every field's, at once.

Credentials in the body (`claude.api_key`, `repository.token`, `webhook.secret`) are pydantic
`SecretStr`s: never in a repr, a log line or an error's details. What the job's payload keeps
(`job_payload`) has none of them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from sandbox.container import EDIT_TOOLS

# GitHub's own shapes: an owner (user or organisation) and a repository name.
OWNER = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
REPOSITORY_NAME = r"^[A-Za-z0-9._-]{1,100}$"
# A branch name git accepts and no option can be read from (no leading dash); `branch_problem`
# refuses the rest of what git would (`..`, `//`, a trailing dot or slash, `.lock`).
BRANCH = r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$"
MODEL = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$"
PRINTABLE = r"^[\x20-\x7e]{1,200}$"
Tool = Literal["Bash", "Read", "Edit", "MultiEdit", "Write", "Glob", "Grep", "LS", "TodoWrite"]
assert set(Tool.__args__) == set(EDIT_TOOLS)  # type: ignore[attr-defined]  # a fix's tools, no more

Strict = ConfigDict(extra="forbid", str_strip_whitespace=False)


def branch_name(name: str) -> str:
    """A branch name as `git check-ref-format` would take it, within `BRANCH`'s characters."""
    if ".." in name or "//" in name or name.endswith(("/", ".", ".lock")) or "/." in name:
        raise ValueError("is not a branch name git accepts")
    return name


Branch = Annotated[str, StringConstraints(pattern=BRANCH), AfterValidator(branch_name)]


class Repository(BaseModel):
    """Where the task runs: `owner` and `name` of a repository where the App is installed, or
    the `url` of a git repository (https) with a `token` for it, held in memory only."""

    model_config = Strict
    owner: Annotated[str, StringConstraints(pattern=OWNER)] | None = None
    name: Annotated[str, StringConstraints(pattern=REPOSITORY_NAME)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    token: Annotated[SecretStr, Field(min_length=1, max_length=1000)] | None = None
    ref: Branch | None = Field(
        default=None, description="the branch to start from (default: the repository's default)"
    )

    @model_validator(mode="after")
    def one_way_to_name_it(self) -> Repository:
        by_name = self.owner is not None or self.name is not None
        if by_name and self.url is not None:
            raise ValueError("give either owner and name, or url, not both")
        if not by_name and self.url is None:
            raise ValueError("give owner and name, or url")
        if by_name and (self.owner is None or self.name is None):
            raise ValueError("owner and name go together")
        if self.url is not None:
            problem = url_problem(self.url)
            if problem:
                raise ValueError(problem)
        if self.token is not None and self.url is None:
            raise ValueError("a token goes with a url: the App's own token is used otherwise")
        return self


def url_problem(url: str) -> str:
    """Why a git URL is refused ("" when it is not): https only, no credentials in it, a host
    name (not an address, nor this host), no query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "url is not a URL"
    if parts.scheme != "https":
        return "url must be an https:// URL"
    if parts.username is not None or parts.password is not None:
        return "url must not hold credentials: give the token as repository.token"
    if parts.query or parts.fragment:
        return "url must have no query or fragment"
    if not host or "." not in host or host.replace(".", "").isdigit() or ":" in host:
        return "url must name a host by its DNS name"
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "url must name a public host"
    if not parts.path.strip("/"):
        return "url must name a repository"
    return ""


class Claude(BaseModel):
    """How Claude Code runs: the model, its turns, instructions added after fixwright's own,
    which of a fix's tools it may use, and a model key for this task only."""

    model_config = Strict
    model: Annotated[str, StringConstraints(pattern=MODEL)] | None = None
    max_turns: Annotated[int, Field(ge=1, le=50)] | None = None
    system_prompt: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    allowed_tools: Annotated[list[Tool], Field(min_length=1, max_length=len(EDIT_TOOLS))] | None = (
        None
    )
    api_key: Annotated[SecretStr, Field(min_length=1, max_length=1000)] | None = None


class Options(BaseModel):
    model_config = Strict
    timeout: Annotated[int, Field(ge=30, le=3600)] | None = None
    verify: bool = False


class Output(BaseModel):
    model_config = Strict
    pull_request: bool = False
    branch: Branch | None = None


class Webhook(BaseModel):
    model_config = Strict
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    secret: Annotated[SecretStr, Field(min_length=16, max_length=1000)]


class TaskBody(BaseModel):
    """`POST /v1/tasks`."""

    model_config = Strict
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    repository: Repository
    claude: Claude = Field(default_factory=Claude)
    options: Options = Field(default_factory=Options)
    output: Output = Field(default_factory=Output)
    webhook: Webhook | None = None
    external_id: Annotated[str, StringConstraints(pattern=PRINTABLE)] | None = None
    mode: Literal["async", "sync"] = "async"

    @model_validator(mode="after")
    def pull_request_needs_the_app(self) -> TaskBody:
        if self.output.pull_request and self.repository.url is not None:
            raise ValueError(
                "output.pull_request needs a repository where the App is installed (owner and name)"
            )
        if self.output.branch and not self.output.pull_request:
            raise ValueError("output.branch is only used with output.pull_request")
        return self


def field_problems(error: ValidationError) -> list[dict[str, str]]:
    """Each problem with the field it is in; never the value given (it may be a credential)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append({"field": field, "problem": message})
    return problems


def body_sha256(raw: dict[str, Any]) -> str:
    """The body's hash for idempotency: the same JSON (keys in any order) hashes the same."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def job_payload(body: TaskBody) -> dict[str, Any]:
    """What the job keeps of the task: everything but the credentials (`model_dump` leaves
    SecretStr values masked; they are dropped outright here)."""
    repository = body.repository.model_dump(exclude={"token"}, exclude_none=True)
    claude = body.claude.model_dump(exclude={"api_key"}, exclude_none=True)
    return {
        "prompt": body.prompt,
        "repository": repository,
        "claude": claude,
        "options": body.options.model_dump(exclude_none=True),
        "output": body.output.model_dump(exclude_none=True),
    }
