"""A job kind, declared once by its package under handlers/ and read by every part of the service.

The registry plans a kind's jobs from its triggers; the worker mints the job's token with its
permissions, checks the trigger's role, holds it to the quotas when it is metered, and ends its
failure comments with its retry hint; `/help` lists its lines. Nothing in app/ names a kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import PERMISSION_LEVELS, Settings
from app.events import WebhookEvent
from app.store import NewJob

if TYPE_CHECKING:
    from app.context import Context

# Decides at intake, from the delivery alone, whether to queue a job: pure, no I/O.
Planner = Callable[[WebhookEvent, Settings], NewJob | None]
# Does the job's work in a worker; returns the one-line summary stored with the job.
JobHandler = Callable[[WebhookEvent, "Context"], Awaitable[str]]

# The least role that may start a kind: the operator's `FIXWRIGHT_TRIGGER_PERMISSION` (which a
# repository's `.github/fixwright.yml` may raise, never lower).
CONFIGURED_ROLE = "configured"


@dataclass(frozen=True)
class Trigger:
    """A delivery that may ask for a job: its event, its action (None: any), and the planner."""

    event: str
    action: str | None
    planner: Planner


@dataclass(frozen=True)
class HelpLine:
    """One row of the `/help` table; `{label}` in `how` stands for the trigger label."""

    how: str
    where: str
    what: str

    def row(self, settings: Settings) -> str:
        how = self.how.replace("{label}", settings.trigger_label)
        return f"| {how} | {self.where} | {self.what} |"


@dataclass(frozen=True)
class Words:
    """How the thread speaks of a kind's jobs."""

    noun: str  # "fix": "this fix job", "the fix job"
    retry_command: str  # "/fix": what tries again; "" when nothing does
    subject: str  # "the issue": what a failure asks people to narrow down
    narrow: str  # the next step when Claude ran out of turns
    check_name: str  # the check run's name; "" when the kind has none
    retry_verb: str = "comment"  # how the retry command is given ("send" for an API request)

    @property
    def retry_hint(self) -> str:
        """The sentence that ends a failure comment."""
        verb = self.retry_verb.capitalize()
        return f"{verb} `{self.retry_command}` to try again." if self.retry_command else ""

    @property
    def then_retry(self) -> str:
        """The same, after a first step: "…; then comment `/fix` to try again."."""
        verb = self.retry_verb
        return f"then {verb} `{self.retry_command}` to try again." if self.retry_command else ""


@dataclass(frozen=True)
class JobKind:
    """Everything the service needs to know of one kind of job; declared once, all of it."""

    name: str
    handler: JobHandler
    triggers: tuple[Trigger, ...]
    # The installation token's permissions: the job's token can do nothing else.
    permissions: Mapping[str, str]
    # The least role on the repository that may start it (`CONFIGURED_ROLE`, one of GitHub's
    # roles, or None: anyone, as for `/help`), and what a refusal says it does ("opens fixes").
    least_role: str | None
    refusal: str
    # Runs Claude Code, so spends: held to the installation's quotas before it starts.
    metered: bool
    help: tuple[HelpLine, ...]
    words: Words
    # False for a kind that reads commits but acts on no repository setting: its jobs neither
    # read `.github/fixwright.yml` nor fail, telling the thread, when that file is not valid.
    honours_repo_config: bool = True

    def required_role(self, settings: Settings) -> str | None:
        """The role a trigger needs under these settings (None: no check)."""
        return (
            settings.trigger_permission if self.least_role == CONFIGURED_ROLE else self.least_role
        )

    def reads_code(self) -> bool:
        """Jobs that read the repository honour its `.github/fixwright.yml`."""
        return self.honours_repo_config and "contents" in self.permissions

    def problems(self) -> list[str]:
        """What is wrong with the declaration (the registry refuses a kind with any)."""
        found = []
        if self.least_role not in (None, CONFIGURED_ROLE, *PERMISSION_LEVELS):
            found.append(f"least_role {self.least_role!r} is not a GitHub role")
        if self.least_role is not None and not self.refusal:
            found.append("a kind with a least role needs the refusal's words")
        if self.permissions.get("metadata") != "read":
            found.append("every installation token needs metadata: read")
        if self.metered and not self.words.retry_command:
            found.append("a metered kind needs a retry command for its failures")
        return [f"job kind {self.name!r}: {problem}" for problem in found]
