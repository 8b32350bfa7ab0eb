"""Deciding a request that waits for approval, from its thread, and telling a thread that one
expired.

The request decided is the one waiting on the same issue or pull request since before the
command was written (at most one waits there: `app/trigger_gate.py`), so `/approve` never
reaches a request its author had not seen. The approver needs the requested kind's role and the
policy's, and is never the requester. An approved job runs from the delivery stored with it: the
issue as it stood at the trigger.
"""

from __future__ import annotations

from typing import Any

from app.audit import Action, audit
from app.context import Context
from app.errors import JobRefused
from app.events import WebhookEvent
from app.notices import Notice, post_notice_once
from app.store import Approval
from app.trigger_gate import approver_role, duration_words, role_on, role_rank
from handlers.approval.triggers import TARGET_SUFFIX
from handlers.common.commands import command_of
from handlers.common.untrusted_text import defang

DECIDED_MARKER = "<!-- fixwright:approval -->"
# A denial's reason is shown in the thread and kept with the job: one line, this long at most.
REASON_LIMIT = 500
DECISION_OF = {"approve": "approved", "deny": "denied"}


def reason_of(args: str) -> str:
    """The words after `/deny`, one line, cut to REASON_LIMIT."""
    line = " ".join(
        "".join(c if c.isprintable() else " " for c in args[: REASON_LIMIT * 2]).split()
    )
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"


def noun_of(context: Context, kind: str) -> str:
    declared = context.kinds.get(kind)
    return declared.words.noun if declared else kind


def decided_text(approval: Approval, noun: str) -> str:
    requester = approval.requested_by
    # A token's decision names the token, never its holder (nobody to mention).
    by = (
        approval.decided_by
        if approval.decided_by.startswith("token:")
        else f"@{approval.decided_by}"
    )
    if approval.decision == "approved":
        return (
            f"{DECIDED_MARKER}\n✅ {by} approved the {noun} job requested by @{requester}: it "
            "starts now, from the request as it stood when it was made."
        )
    reason = f" Reason: {defang(approval.reason)}" if approval.reason else ""
    return (
        f"{DECIDED_MARKER}\n🚫 {by} denied the {noun} job requested by @{requester}; it will "
        f"not run.{reason}"
    )


def expired_text(requester: str, noun: str, waited: str) -> str:
    return (
        f"{DECIDED_MARKER}\n⌛ The {noun} job requested by @{requester} was not approved within "
        f"{waited}, so it will not run. Trigger it again if it is still wanted."
    )


async def decide_request(event: WebhookEvent, context: Context) -> str:
    """`/approve` or `/deny [reason]`: decide the request waiting here; or, for a notice the
    expiry queued, tell the thread."""
    expired: dict[str, Any] = dict(context.job.payload.get("approval_expired") or {})
    if expired:
        return await tell_thread_request_expired(context, expired)
    by_token: dict[str, Any] = dict(context.job.payload.get("approval_decided") or {})
    if by_token:
        return await tell_thread_request_decided(context, by_token)
    command = command_of(event)
    if command is None or command.name not in DECISION_OF:
        return "no decision in the comment"
    job, store = context.job, context.store
    actor = job.requested_by
    pending = await store.pending_approval(job.target.removesuffix(TARGET_SUFFIX))
    if pending is None or pending.requested_at >= job.created_at:
        await notify(context, "approval-none", f"@{actor}, nothing here waits for approval.")
        return "nothing waits for approval here"
    kind = context.kinds.get(pending.kind)
    needed = approver_role(kind, context.settings) if kind else "admin"
    if actor.lower() == pending.requested_by.lower():
        await refuse(context, pending, f"@{actor}, a request cannot be decided by its requester.")
    role = await role_on(context.github, job.repository, actor)
    if role_rank(role) < role_rank(needed):
        await refuse(
            context,
            pending,
            f"@{actor}, only someone with **{needed}** access can decide this request "
            f"(you have {role}).",
        )
    decision = DECISION_OF[command.name]
    reason = reason_of(command.args) if decision == "denied" else ""
    outcome, decided = await store.decide_approval(pending.job_id, decision, actor, reason=reason)
    if outcome is None or not decided:
        return f"job {pending.job_id} was decided already"
    action = Action.APPROVAL_GRANTED if decision == "approved" else Action.APPROVAL_DENIED
    await audit(
        store,
        action,
        actor=actor,
        repository=pending.repository,
        installation_id=pending.installation_id,
        subject=pending.job_id,
        detail=f"{pending.target}: {pending.kind} requested by {pending.requested_by}"
        + (f"; {reason}" if reason else ""),
        log=context.log,
    )
    context.log.info("approval.decided", decision=decision, job=pending.job_id, by=actor)
    await comment(context, decided_text(outcome, noun_of(context, pending.kind)))
    return f"{decision} job {pending.job_id}"


async def refuse(context: Context, pending: Approval, text: str) -> None:
    """Someone who may not decide it asked: one notice an hour, the attempt in the audit trail."""
    job = context.job
    await audit(
        context.store,
        Action.TRIGGER_REFUSED,
        job,
        detail=f"approval of job {pending.job_id}: {text.split(', ', 1)[-1]}",
        log=context.log,
    )
    await notify(context, "approval-refusal", text)
    raise JobRefused(f"@{job.requested_by} may not decide job {pending.job_id}")


async def notify(context: Context, kind: str, text: str) -> None:
    job = context.job
    notice = Notice(
        job.repository, job.number or 0, job.requested_by, kind, f"{DECIDED_MARKER}\n{text}"
    )
    await post_notice_once(context.store, context.github, notice, context.log)


async def comment(context: Context, body: str) -> None:
    owner, name = context.owner_and_name
    await context.github.rest.issues.async_create_comment(
        owner, name, context.job.number or 0, body=body
    )


async def tell_thread_request_decided(context: Context, decided: dict[str, Any]) -> str:
    """The thread hears of a decision made with an approval token, away from GitHub."""
    job_id, kind = str(decided.get("job_id", "")), str(decided.get("kind", ""))
    approval = Approval(
        job_id=job_id,
        kind=kind,
        repository=context.job.repository,
        target=context.job.target,
        number=context.job.number,
        installation_id=context.job.installation_id,
        requested_by=context.job.requested_by,
        requested_at=0.0,
        expires_at=0.0,
        decision=str(decided.get("decision", "")),
        decided_by=str(decided.get("decided_by", "")),
        reason=str(decided.get("reason", "")),
    )
    await comment(context, decided_text(approval, noun_of(context, kind)))
    return f"told the thread that job {job_id} was {approval.decision}"


async def tell_thread_request_expired(context: Context, expired: dict[str, Any]) -> str:
    """The thread hears that the request will not run (the expiry itself is in the store)."""
    job_id = str(expired.get("job_id", ""))
    noun = noun_of(context, str(expired.get("kind", "")))
    waited = duration_words(context.settings.approval_expires_seconds)
    await comment(context, expired_text(context.job.requested_by, noun, waited))
    return f"told the thread that the request of job {job_id} expired"
