"""The audit trail's one entry point: each decision of the service, recorded in one line by its caller.

    await audit(context.store, Action.PUSH, context.job, detail=f"{branch} at {sha}")

An entry names what was decided (`Action`), whose action it concerns (the GitHub login that
triggered the job, the maintainer who approved, or `fixwright` for the service's own decisions),
the installation, the repository, the job and, in words, why.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from enum import StrEnum

import structlog
from structlog.typing import FilteringBoundLogger

from app.store.audit import JOB_CANCELLED as STORED_JOB_CANCELLED
from app.store.audit import SERVICE_ACTOR as SERVICE_ACTOR  # the actor of decisions no person made
from app.store.model import AuditEntry, Job, Store
from sandbox.redaction import redact_text

# An entry's detail is a sentence, not a log: reasons quoted from GitHub or a repository's file
# are cut here, so an entry stays one line of `fixwright audit`.
MAX_DETAIL_CHARACTERS = 500
MAX_FIELD_CHARACTERS = 200
# Control, format (bidirectional overrides, zero-width) and line or paragraph separators.
UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


class Action(StrEnum):
    """What an entry records; a closed vocabulary, so `fixwright audit` output can be filtered."""

    TRIGGER_ACCEPTED = "trigger.accepted"
    TRIGGER_REFUSED = "trigger.refused"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_DENIED = "approval.denied"
    APPROVAL_EXPIRED = "approval.expired"
    JOB_CANCELLED = STORED_JOB_CANCELLED  # also written by the store, for cancellations at intake
    CONFIG_ERROR = "config.error"
    QUOTA_REFUSED = "quota.refused"
    PUSH = "push"
    TASK_CREATED = "task.created"
    SCHEDULE_CREATED = "schedule.created"
    SCHEDULE_PAUSED = "schedule.paused"
    SCHEDULE_RESUMED = "schedule.resumed"
    SCHEDULE_DELETED = "schedule.deleted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"


def one_line(text: str, limit: int) -> str:
    """Text safe to print on a terminal: control and format characters (escape sequences,
    newlines, bidirectional overrides that reorder what is shown) become spaces, and it is cut
    to `limit` characters."""
    cleaned = "".join(
        " " if unicodedata.category(c) in UNPRINTABLE else c for c in text[: limit * 2]
    )
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def audit_entry(
    action: Action,
    job: Job | None = None,
    *,
    detail: str = "",
    actor: str = "",
    repository: str = "",
    installation_id: int | None = None,
    subject: str = "",
    secrets: Iterable[str] = (),
) -> AuditEntry:
    """The entry for a decision: the job gives the actor (its requester), repository,
    installation and subject (its id, with its target at the start of the detail); each
    keyword given explicitly wins. The detail is redacted and made one line."""
    if job is not None:
        actor = actor or job.requested_by
        repository = repository or job.repository
        installation_id = installation_id if installation_id is not None else job.installation_id
        subject = subject or job.id
        detail = f"{job.target}: {detail}" if detail else job.target
    secrets = tuple(secrets)
    return AuditEntry(
        action=action.value,
        actor=one_line(redact_text(actor or SERVICE_ACTOR, secrets), MAX_FIELD_CHARACTERS),
        repository=one_line(repository, MAX_FIELD_CHARACTERS),
        installation_id=installation_id,
        subject=one_line(redact_text(subject, secrets), MAX_FIELD_CHARACTERS),
        detail=one_line(redact_text(detail, secrets), MAX_DETAIL_CHARACTERS),
    )


async def audit(
    store: Store,
    action: Action,
    job: Job | None = None,
    *,
    detail: str = "",
    actor: str = "",
    repository: str = "",
    installation_id: int | None = None,
    subject: str = "",
    secrets: Iterable[str] = (),
    log: FilteringBoundLogger | None = None,
) -> bool:
    """Record one decision (see `audit_entry` for the fields); False when the store refused it.

    The decision has already been taken when it is recorded (the push made, the job refused):
    failing the job now would undo nothing and would tell the user of a fault that is the
    store's. So a write that cannot be made never raises; it is logged as an error, because the
    trail now has a gap an operator must know about (a full disk, a store locked too long).
    """
    entry = audit_entry(
        action,
        job,
        detail=detail,
        actor=actor,
        repository=repository,
        installation_id=installation_id,
        subject=subject,
        secrets=secrets,
    )
    try:
        await store.record_audit(entry)
    except Exception as error:  # the trail's gap is logged with the entry it lost
        (log or structlog.get_logger()).error(
            "audit.not_recorded",
            action=entry.action,
            actor=entry.actor,
            repository=entry.repository,
            subject=entry.subject,
            detail=entry.detail,
            error=repr(error),
            remedy="check the store's disk and that no other process holds it locked",
        )
        return False
    return True
