"""The pull request a follow-up revises, as GitHub has it now, and whether fixwright may push to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.context import Context
from handlers.fix.pull_requests import issue_of_pr_body


@dataclass(frozen=True)
class PullTarget:
    """What a follow-up needs of its pull request: where its branch lives, and whose it is."""

    number: int
    state: str  # "open" or "closed"
    merged: bool
    author: str
    title: str
    body: str
    html_url: str
    head_ref: str
    head_sha: str
    head_repository: str  # "owner/name"; "" when the fork was deleted
    base_ref: str
    clone_url: str  # the repository's own: a fork's is never used

    @property
    def issue_number(self) -> int | None:
        """The issue fixwright's pull request fixes (its body's marker), if it is one of fixwright's."""
        return issue_of_pr_body(self.body)


async def load_pull(context: Context, number: int) -> PullTarget:
    owner, name = context.owner_and_name
    found: Any = (await context.github.rest.pulls.async_get(owner, name, number)).parsed_data
    head_repo = found.head.repo
    return PullTarget(
        number=found.number,
        state=found.state,
        merged=bool(found.merged),
        author=found.user.login if found.user else "",
        title=found.title,
        body=found.body or "",
        html_url=found.html_url,
        head_ref=found.head.ref,
        head_sha=found.head.sha,
        head_repository=head_repo.full_name if head_repo else "",
        base_ref=found.base.ref,
        clone_url=found.base.repo.clone_url,
    )


def is_own(pull: PullTarget, settings: Settings, app_slug: str) -> bool:
    """Opened by the App, from one of its work branches."""
    return pull.author == f"{app_slug}[bot]" and pull.head_ref.startswith(settings.branch_prefix)


def refusal_of(
    pull: PullTarget, repository: str, settings: Settings, app_slug: str
) -> tuple[str, str]:
    """Why fixwright will not push to this pull request, as (a short key, one sentence), or
    ("", "") when it may."""
    if pull.merged:
        return "merged", (
            "this pull request is already merged, so fixwright will not push to it: open or label "
            "an issue for further work."
        )
    if pull.state != "open":
        return "closed", (
            "this pull request is closed, so fixwright will not push to it: reopen it, then "
            "comment `/fix` again."
        )
    if pull.head_repository != repository:
        return "fork", "this pull request comes from a fork, and fixwright never pushes to a fork."
    if not is_own(pull, settings, app_slug) and not settings.followup_any_pull_request:
        return "not-own", (
            "fixwright only revises pull requests it opened; label an issue to have it open one."
        )
    return "", ""
