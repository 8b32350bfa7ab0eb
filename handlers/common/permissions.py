"""Who may trigger: the actor's role on the repository, checked with the collaborator API."""

from __future__ import annotations

from typing import Any

from githubkit.exception import RequestFailed

from app.config import PERMISSION_LEVELS
from app.context import Context
from app.errors import JobRefused
from app.notices import Notice, post_notice_once

REFUSAL_MARKER = "<!-- fixwright:refused -->"


def role_rank(role: str) -> int:
    """Position of a role in GitHub's order (unknown roles rank below read)."""
    return PERMISSION_LEVELS.index(role) if role in PERMISSION_LEVELS else -1


def role_of(permission_response: Any) -> str:
    """The finest role GitHub reports (`role_name` knows triage and maintain; `permission` does not)."""
    role = getattr(permission_response, "role_name", None) or ""
    return (
        role
        if role in PERMISSION_LEVELS
        else str(getattr(permission_response, "permission", "none"))
    )


def refusal_text(actor: str, role: str, required: str, what: str) -> str:
    return (
        f"{REFUSAL_MARKER}\n"
        f"@{actor}, fixwright only {what} when asked by someone with **{required}** access to this "
        f"repository (you have {role}). A maintainer can trigger it instead."
    )


async def require_permission(context: Context, actor: str, number: int, what: str) -> str:
    """The actor's role; raises JobRefused when it is below the minimum, after one short comment
    (at most one an hour for each person on each issue).

    Only an allowed trigger supersedes the older ones of its kind still queued for the same
    issue: a refused one leaves them to run.
    """
    owner, name = context.owner_and_name
    required = context.settings.trigger_permission
    try:
        response = await context.github.rest.repos.async_get_collaborator_permission_level(
            owner, name, actor
        )
        role = role_of(response.parsed_data)
    except RequestFailed as error:
        if error.response.status_code != 404:
            raise
        role = "none"  # not a collaborator at all
    if role_rank(role) >= role_rank(required):
        context.log.info("trigger.allowed", actor=actor, role=role, required=required)
        superseded = await context.store.supersede_older(
            context.job.id, f"superseded by a newer trigger from @{actor}"
        )
        if superseded:
            context.log.info("jobs.superseded", jobs=superseded, by=actor)
        return role
    context.log.info("trigger.refused", actor=actor, role=role, required=required)
    refusal = Notice(
        context.job.repository, number, actor, "refusal", refusal_text(actor, role, required, what)
    )
    await post_notice_once(context.store, context.github, refusal, context.log)
    raise JobRefused(f"@{actor} has {role} access; {required} is required")
