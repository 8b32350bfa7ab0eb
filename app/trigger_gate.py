"""Who may start a job: the actor's role on the repository, checked with the collaborator API
against the least role the job's kind declares, before its handler runs.

With the approval policy on (`FIXWRIGHT_APPROVAL_REQUIRED_BELOW`, raised per repository by
`approval: {required_below: ...}`), a trigger of a kind that runs Claude Code from someone below
the policy's role, or below the kind's own role, is not refused: it waits for approval. The job
leaves its worker (`awaiting_approval`), the thread is told how a maintainer approves it, and
nothing runs until one does (`handlers/approval/`). At most one request waits on an issue or pull
request at a time, so `/approve` there always names the request its comment described.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn

from githubkit import GitHub
from githubkit.exception import RequestFailed
from structlog.typing import FilteringBoundLogger

from app.audit import Action, audit
from app.config import PERMISSION_LEVELS, Settings
from app.errors import FixwrightError, JobRefused
from app.events import trigger_time_text
from app.kinds import JobKind
from app.notices import Notice, post_notice_once
from app.store import Job, Store

if TYPE_CHECKING:
    from githubkit_schemas.latest.models import RepositoryCollaboratorPermission

REFUSAL_MARKER = "<!-- fixwright:refused -->"
APPROVAL_MARKER = "<!-- fixwright:awaiting-approval -->"


class Gate(StrEnum):
    """What the gate decides for one trigger."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    AWAITING = "awaiting"


class AwaitingApproval(FixwrightError):
    """The job waits for a maintainer's approval; the thread has been told how to give it."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


def role_rank(role: str) -> int:
    """Position of a role in GitHub's order (unknown roles rank below read)."""
    return PERMISSION_LEVELS.index(role) if role in PERMISSION_LEVELS else -1


def higher_role(first: str, second: str) -> str:
    """The higher of two roles (an empty one counts for nothing)."""
    return second if role_rank(second) > role_rank(first) else first


def gate_decision(role: str, required: str, policy_role: str) -> Gate:
    """Allowed at or above both the kind's role and the policy's; below either, the trigger
    waits for approval when the policy is on (`policy_role`), else it is refused."""
    if not policy_role:
        return Gate.ALLOWED if role_rank(role) >= role_rank(required) else Gate.REFUSED
    if role_rank(role) >= role_rank(higher_role(required, policy_role)):
        return Gate.ALLOWED
    return Gate.AWAITING


def policy_role(kind: JobKind, settings: Settings) -> str:
    """The approval policy's role for this kind ("" when off): only kinds that run Claude Code
    wait for approval; a refused `/cancel` simply stays refused."""
    return settings.approval_required_below if kind.metered else ""


def approver_role(kind: JobKind, settings: Settings) -> str:
    """The least role that may approve a job of this kind: its own role and the policy's."""
    return higher_role(kind.required_role(settings) or "", settings.approval_required_below)


def role_of(permission_response: RepositoryCollaboratorPermission) -> str:
    """The finest role GitHub reports (`role_name` knows triage and maintain; `permission` does not)."""
    role = permission_response.role_name
    return role if role in PERMISSION_LEVELS else permission_response.permission


def refusal_text(actor: str, role: str, required: str, what: str) -> str:
    return (
        f"{REFUSAL_MARKER}\n"
        f"@{actor}, fixwright only {what} when asked by someone with **{required}** access to this "
        f"repository (you have {role}). A maintainer can trigger it instead."
    )


def already_waiting_text(actor: str) -> str:
    return (
        f"{REFUSAL_MARKER}\n"
        f"@{actor}, another request is already waiting for a maintainer's approval here; this one "
        "was not queued. Ask again once that one is approved, denied or expired."
    )


def duration_words(seconds: float) -> str:
    """`86400` → "24 hours": the largest unit that divides it (minutes at least)."""
    unit, size = next(
        ((unit, size) for unit, size in (("day", 86_400), ("hour", 3600)) if seconds % size == 0),
        ("minute", 60),
    )
    count = max(1, round(seconds / size))
    return f"{count} {unit}{'' if count == 1 else 's'}"


def awaiting_text(job: Job, kind: JobKind, role: str, approver: str, expires_seconds: float) -> str:
    """The comment that tells maintainers a request waits, how to decide it, and what it covers."""
    at = trigger_time_text(job.payload.get("payload") or {}) or "the time of the request"
    return (
        f"{APPROVAL_MARKER}\n"
        f"⏸️ @{job.requested_by} asked for a {kind.words.noun} job, and fixwright only "
        f"{kind.refusal} for people with **{approver}** access once a maintainer approves (they "
        f"have {role}). Nothing runs until then.\n\n"
        f"Someone with **{approver}** access other than @{job.requested_by} can comment "
        "`/approve` to run it, or `/deny [reason]` to drop it. The approval covers the request as "
        f"it stood at {at}: edits to the issue or its comments after that are not used. It "
        f"expires in {duration_words(expires_seconds)}."
    )


async def role_on(github: GitHub[Any], repository: str, actor: str) -> str:
    """The actor's role on the repository; `none` for someone who is not a collaborator at all."""
    owner, _, name = repository.partition("/")
    try:
        response = await github.rest.repos.async_get_collaborator_permission_level(
            owner, name, actor
        )
    except RequestFailed as error:
        if error.response.status_code != 404:
            raise
        return "none"
    return role_of(response.parsed_data)


async def check_trigger(
    github: GitHub[Any],
    store: Store,
    job: Job,
    kind: JobKind,
    settings: Settings,
    log: FilteringBoundLogger,
) -> None:
    """Let the job run, refuse it (JobRefused), or make it wait for approval (AwaitingApproval).

    A job a maintainer approved runs without the role check: the approval stands for its
    requester. Every decision is written to the audit trail.
    """
    required = kind.required_role(settings)
    if required is None:
        return
    approval = await store.approval(job.id)
    if approval is not None and approval.decision == "approved":
        detail = f"{kind.name}, approved by {approval.decided_by}"
        log.info("trigger.allowed", actor=job.requested_by, approved_by=approval.decided_by)
        await audit(store, Action.TRIGGER_ACCEPTED, job, detail=detail, log=log)
        await supersede_older(store, job, log)
        return
    policy = policy_role(kind, settings)
    role = await role_on(github, job.repository, job.requested_by)
    decision = gate_decision(role, required, policy)
    if decision is Gate.ALLOWED:
        log.info("trigger.allowed", actor=job.requested_by, role=role, required=required)
        detail = f"{kind.name}, {role} access"
        await audit(store, Action.TRIGGER_ACCEPTED, job, detail=detail, log=log)
        await supersede_older(store, job, log)
        return
    if decision is Gate.REFUSED:
        await refuse(github, store, job, log, role, required, kind.refusal)
    approver = approver_role(kind, settings)
    if await store.pending_approval(job.target) is not None:
        log.info("trigger.refused", actor=job.requested_by, reason="a request already waits")
        detail = f"{kind.name}: another request already waits for approval"
        await audit(store, Action.TRIGGER_REFUSED, job, detail=detail, log=log)
        notice = Notice(
            job.repository,
            job.number or 0,
            job.requested_by,
            "refusal",
            already_waiting_text(job.requested_by),
        )
        await post_notice_once(store, github, notice, log)
        raise JobRefused("another request already waits for approval here")
    owner, _, name = job.repository.partition("/")
    body = awaiting_text(job, kind, role, approver, settings.approval_expires_seconds)
    await github.rest.issues.async_create_comment(owner, name, job.number or 0, body=body)
    log.info("approval.requested", actor=job.requested_by, role=role, approver=approver)
    detail = f"{kind.name}: {role} access, {approver} must approve"
    await audit(store, Action.APPROVAL_REQUESTED, job, detail=detail, log=log)
    raise AwaitingApproval(f"awaiting approval by someone with {approver} access")


async def supersede_older(store: Store, job: Job, log: FilteringBoundLogger) -> None:
    """An allowed trigger cancels the older ones of its kind still waiting for the same target."""
    superseded = await store.supersede_older(
        job.id, f"superseded by a newer trigger from @{job.requested_by}"
    )
    if superseded:
        log.info("jobs.superseded", jobs=superseded, by=job.requested_by)


async def refuse(
    github: GitHub[Any],
    store: Store,
    job: Job,
    log: FilteringBoundLogger,
    role: str,
    required: str,
    what: str,
) -> NoReturn:
    """Raise JobRefused after one short comment (at most one an hour for each person on each
    issue); a refused trigger supersedes nothing, so the older ones still run."""
    actor = job.requested_by
    log.info("trigger.refused", actor=actor, role=role, required=required)
    detail = f"{job.kind}: {role} access, {required} required"
    await audit(store, Action.TRIGGER_REFUSED, job, detail=detail, log=log)
    refusal = Notice(
        job.repository, job.number or 0, actor, "refusal", refusal_text(actor, role, required, what)
    )
    await post_notice_once(store, github, refusal, log)
    raise JobRefused(f"@{actor} has {role} access; {required} is required")


async def require_role(
    github: GitHub[Any],
    store: Store,
    job: Job,
    log: FilteringBoundLogger,
    *,
    required: str,
    what: str,
) -> str:
    """The requester's role; raises JobRefused when it is below `required` (no approval asked)."""
    role = await role_on(github, job.repository, job.requested_by)
    if role_rank(role) < role_rank(required):
        await refuse(github, store, job, log, role, required, what)
    log.info("trigger.allowed", actor=job.requested_by, role=role, required=required)
    await supersede_older(store, job, log)
    return role
