"""Who may start a job: the actor's role on the repository, checked with the collaborator API
against the least role the job's kind declares, before its handler runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from githubkit import GitHub
from githubkit.exception import RequestFailed
from structlog.typing import FilteringBoundLogger

from app.config import PERMISSION_LEVELS
from app.errors import JobRefused
from app.notices import Notice, post_notice_once
from app.store import Job, Store

if TYPE_CHECKING:
    from githubkit_schemas.latest.models import RepositoryCollaboratorPermission

REFUSAL_MARKER = "<!-- fixwright:refused -->"


def role_rank(role: str) -> int:
    """Position of a role in GitHub's order (unknown roles rank below read)."""
    return PERMISSION_LEVELS.index(role) if role in PERMISSION_LEVELS else -1


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


async def require_role(
    github: GitHub[Any],
    store: Store,
    job: Job,
    log: FilteringBoundLogger,
    *,
    required: str,
    what: str,
) -> str:
    """The requester's role; raises JobRefused when it is below `required`, after one short
    comment (at most one an hour for each person on each issue).

    Only an allowed trigger supersedes the older ones of its kind still queued for the same
    issue: a refused one leaves them to run.
    """
    actor = job.requested_by
    role = await role_on(github, job.repository, actor)
    if role_rank(role) >= role_rank(required):
        log.info("trigger.allowed", actor=actor, role=role, required=required)
        superseded = await store.supersede_older(
            job.id, f"superseded by a newer trigger from @{actor}"
        )
        if superseded:
            log.info("jobs.superseded", jobs=superseded, by=actor)
        return role
    log.info("trigger.refused", actor=actor, role=role, required=required)
    refusal = Notice(
        job.repository, job.number or 0, actor, "refusal", refusal_text(actor, role, required, what)
    )
    await post_notice_once(store, github, refusal, log)
    raise JobRefused(f"@{actor} has {role} access; {required} is required")
