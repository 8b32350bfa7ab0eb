"""The draft pull request a fix job opens, or updates when the job runs again for the same issue."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.store import Round
from handlers.common.ci_files import CiTouch, render_ci_notice
from handlers.common.run_stats import RunStats, render_run_stats
from handlers.common.untrusted_text import code_safe, defang
from handlers.common.verification import Verification, render_verification

if TYPE_CHECKING:
    from githubkit_schemas.latest.models import PullRequestSimple

PR_MARKER = "<!-- fixwright:pr issue={issue_number} -->"
PR_MARKER_PATTERN = re.compile(r"<!-- fixwright:pr issue=(?P<issue_number>\d+) -->")
TITLE_LIMIT = 200  # GitHub allows 256; leave room for the prefix
SUMMARY_LIMIT = 50_000  # GitHub refuses bodies over 65,536 characters
FILES_SHOWN = 100
NO_SUMMARY = "_Claude did not write a summary._"
REVIEW_NOTE = (
    "This draft was written by Claude Code from the issue above. Review it like any other "
    "contribution before marking it ready. To have fixwright revise it, comment on its lines or "
    "submit a review with comments, or comment `/fix <instructions>` here: it continues the same "
    "session and pushes a new commit."
)
ROUND_SUMMARY_LIMIT = 200
TRIGGER_WORDS = {"label": "the label", "/fix": "`/fix`", "review": "a review"}


@dataclass(frozen=True)
class PullRequestRef:
    """The draft PR a job's changes are in."""

    number: int
    html_url: str
    created: bool


def render_pr_title(
    issue_title: str, issue_number: int, verification: Verification | None = None
) -> str:
    """`Fix #N: <issue title>`, on one line and within GitHub's limit; `[tests failing] Fix #N: …`
    when the host's own run of the tests says the change does not pass them."""
    title = " ".join(issue_title.split()) or "untitled issue"
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1] + "…"
    prefix = f"{verification.title_prefix} " if verification and verification.title_prefix else ""
    return f"{prefix}Fix #{issue_number}: {title}"


def render_pr_body(
    issue_number: int,
    summary: str,
    changed_files: Sequence[str],
    stats: RunStats | None = None,
    ci_touches: Sequence[CiTouch] = (),
    verification: Verification | None = None,
    secrets: Sequence[str] = (),
    rounds: Sequence[Round] = (),
) -> str:
    """The PR body: `Fixes #N`, Claude's summary, the files changed (and which of them CI runs),
    what the host's test runs showed (the output's end redacted of `secrets`) and what the runs
    cost. With more than one round, the files are those of every round, each round is listed,
    and the cost is the total."""
    text = defang(summary.strip()) or NO_SUMMARY
    if len(text) > SUMMARY_LIMIT:
        text = text[:SUMMARY_LIMIT] + "\n\n… (cut short)"
    parts = [
        PR_MARKER.format(issue_number=issue_number),
        f"Fixes #{issue_number}",
        f"## Summary\n\n{text}",
        f"## Files changed\n\n{_file_list(files_of(changed_files, rounds))}",
    ]
    if len(rounds) > 1:
        parts.append(render_rounds(rounds))
    if verification is not None:
        parts.append(render_verification(verification, secrets))
    if ci_touches:
        parts.append(render_ci_notice(ci_touches))
    parts.append(f"> [!NOTE]\n> {REVIEW_NOTE}")
    if stats is not None:
        total = f" · {len(rounds)} rounds: ${total_cost(rounds):.4f}" if len(rounds) > 1 else ""
        parts.append(f"<sub>{render_run_stats(stats)}{total}</sub>")
    return "\n\n".join(parts) + "\n"


def files_of(changed_files: Sequence[str], rounds: Sequence[Round]) -> list[str]:
    """The files the branch changes: this round's and every earlier round's."""
    return sorted({*changed_files, *(path for item in rounds for path in item.files)})


def total_cost(rounds: Sequence[Round]) -> float:
    return sum(item.cost_usd for item in rounds)


def render_rounds(rounds: Sequence[Round]) -> str:
    """Each round on one line: what asked for it and who, its commit, its cost, its summary's
    first line (Claude's words, made inert)."""
    lines = ["## Rounds", ""]
    for index, item in enumerate(rounds, start=1):
        summary = " ".join(item.summary.split())
        if len(summary) > ROUND_SUMMARY_LIMIT:
            summary = summary[: ROUND_SUMMARY_LIMIT - 1] + "…"
        commit = f"`{item.commit[:12]}`" if item.commit else "no commit"
        asked = TRIGGER_WORDS.get(item.trigger, "a request")
        lines.append(
            f"{index}. {asked} from {code_safe(item.actor) or 'someone'} · {commit} · "
            f"${item.cost_usd:.4f} · {defang(summary) or '(no summary)'}"
        )
    return "\n".join(lines)


def issue_of_pr_body(body: str | None) -> int | None:
    """The issue number in a PR body's fixwright marker, or None."""
    found = PR_MARKER_PATTERN.search(body or "")
    return int(found.group("issue_number")) if found else None


def _file_list(paths: Sequence[str]) -> str:
    if not paths:
        return "_none_"
    shown = [f"- `{code_safe(path)}`" for path in sorted(paths)[:FILES_SHOWN]]
    if len(paths) > FILES_SHOWN:
        shown.append(f"- … and {len(paths) - FILES_SHOWN} more")
    return "\n".join(shown)


async def open_or_update_draft_pr(
    github: GitHub[Any],
    repository: str,
    *,
    head_branch: str,
    base_branch: str,
    title: str,
    body: str,
    draft: bool = True,
) -> PullRequestRef:
    """The open PR from `head_branch` with its title and body refreshed, or a new draft PR.

    A retried job, a second label or another `/fix` on the issue pushes to the same branch, so
    the PR for that branch is reused rather than a second one opened.
    """
    owner, _, name = repository.partition("/")
    found = await _open_pr_from(github, owner, name, head_branch)
    if found is not None:
        return await _update(github, owner, name, found, title, body)
    try:
        created = await github.rest.pulls.async_create(
            owner,
            name,
            title=title,
            body=body,
            head=head_branch,
            base=base_branch,
            draft=draft,
            maintainer_can_modify=True,
        )
    except RequestFailed as failure:
        # Another run for the same branch opened it a moment ago: reuse that one.
        found = await _open_pr_from(github, owner, name, head_branch)
        if failure.response.status_code != 422 or found is None:
            raise
        return await _update(github, owner, name, found, title, body)
    return PullRequestRef(created.parsed_data.number, created.parsed_data.html_url, created=True)


async def _open_pr_from(github: GitHub[Any], owner: str, name: str, head_branch: str) -> int | None:
    """The number of the open PR from `owner:head_branch`, if there is one."""
    listed = await github.rest.pulls.async_list(
        owner, name, state="open", head=f"{owner}:{head_branch}", per_page=1
    )
    # githubkit's PullsClient has a method named `list`, which hides the builtin in its
    # annotations (yanyongyu/githubkit#184): the answer's type is spelt out.
    pulls: list[PullRequestSimple] = listed.parsed_data
    return pulls[0].number if pulls else None


async def _update(
    github: GitHub[Any], owner: str, name: str, number: int, title: str, body: str
) -> PullRequestRef:
    updated = await github.rest.pulls.async_update(owner, name, number, title=title, body=body)
    return PullRequestRef(number, updated.parsed_data.html_url, created=False)
