"""A fix's changes published: checked for secrets, committed as the App, pushed to the work branch,
and a draft pull request opened (or refreshed) for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.context import Context
from app.errors import JobFailed
from app.store import Round
from handlers.common.audit import record_push
from handlers.common.check_runs import CheckRun
from handlers.common.ci_files import ci_touches_at
from handlers.common.progress import ProgressComment, Step
from handlers.common.untrusted_text import defang
from handlers.common.verification import render_verification
from handlers.fix.pull_requests import (
    PullRequestRef,
    open_or_update_draft_pr,
    render_pr_body,
    render_pr_title,
)
from handlers.fix.target import FixTarget, bot_identity, noreply_identity
from handlers.fix.verify import Verified
from sandbox.git_secrets import find_secrets
from sandbox.git_workspace import JobWorkspace
from sandbox.redaction import redact_text
from sandbox.snapshot import Snapshot


def refuse_secrets(context: Context, changes: Snapshot) -> None:
    """Nothing that looks like a secret is pushed, whoever asked for it."""
    found = find_secrets(changes.changed_text(), context.settings.named_secrets())
    if found:
        raise JobFailed(
            f"the change contains what looks like a secret ({', '.join(found)}), so it was not pushed.",
            "Check the issue for instructions that ask to reveal credentials; "
            + context.kind.words.then_retry,
        )


def commit_message(context: Context, target: FixTarget, summary: str) -> str:
    """`Fix #N: <title>` and Claude's summary, made inert: on the default branch, a commit
    message's `Fixes #12` closes issue 12 and its `@someone` is a mention."""
    number = target.issue_number
    title = defang(" ".join(target.issue_title.split())[:60])
    return redact_text(
        f"Fix #{number}: {title}\n\n{defang(summary.strip()[:2000])}",
        context.settings.secret_values(),
    )


@dataclass(frozen=True)
class Published:
    """Where the changes went: the pull request, and the round as the branch's history keeps it."""

    pull: PullRequestRef
    round: Round


async def publish(
    context: Context,
    target: FixTarget,
    workspace: JobWorkspace,
    verified: Verified,
    progress: ProgressComment,
    check: CheckRun,
    *,
    trigger: str,
    earlier: Sequence[Round] = (),
    someone_elses: PullRequestRef | None = None,
) -> Published:
    """Commit as the App, push the work branch, and open (or refresh) the draft PR, saying what
    the host's test runs showed; its body lists this round after the `earlier` ones. A pull
    request that is `someone_elses` gets the commit, and its title and body are left alone."""
    job = context.job
    number = target.issue_number
    changes, files = verified.attempt.changes, verified.attempt.files
    result, stats = verified.attempt.result, verified.attempt.stats
    verification = verified.verification
    secrets = context.settings.secret_values()
    refuse_secrets(context, changes)
    # Workflows as the base commit has them, from the host's git directory, not the checkout.
    touches = tuple(await ci_touches_at(files, workspace.git_dir, workspace.base_sha))
    await progress.update(progress.state.at(Step.PUSHING), force=True)
    sha = await context.workspaces.commit(
        workspace,
        changes,
        message=commit_message(context, target, result.summary),
        author=await bot_identity(context),
        co_authors=[await noreply_identity(context, job.requested_by)],
    )
    await context.workspaces.push(
        workspace, clone_url=target.clone_url, token=await context.git_token()
    )
    await record_push(context, workspace.branch, sha)
    this_round = Round(
        job_id=job.id,
        trigger=trigger,
        actor=job.requested_by,
        summary=redact_text(result.summary.strip()[:2000], secrets),
        files=tuple(sorted(files)),
        commit=sha or "",
        cost_usd=stats.cost_usd,
        input_tokens=stats.usage.input_tokens,
        output_tokens=stats.usage.output_tokens,
    )
    rounds = (*earlier, this_round)
    pull = someone_elses or await open_or_update_draft_pr(
        context.github,
        job.repository,
        head_branch=workspace.branch,
        base_branch=target.default_branch,
        title=render_pr_title(target.issue_title, number, verification),
        draft=context.settings.draft_pull_requests,
        body=render_pr_body(
            number, result.summary, files, stats, touches, verification, secrets, rounds
        ),
    )
    if pull.created or not earlier:
        shown = progress.state.opened(pull.html_url, pull.number, result.summary, stats, touches)
    else:
        shown = progress.state.pushed(pull.html_url, pull.number, sha or "", result.summary, stats)
    await progress.update(shown, force=True)
    tests = render_verification(verification, secrets, heading="### Verification")
    title = f"Draft pull request #{pull.number}" if pull.created else f"Pushed to #{pull.number}"
    await check.complete(
        verification.conclusion,
        f"{title}: {verification.short}",
        f"{result.summary or 'Changes pushed.'}\n\n{tests}",
    )
    return Published(pull, this_round)
