"""A fix's changes published: checked for secrets, committed as the App, pushed to the work branch,
and a draft pull request opened (or refreshed) for them."""

from __future__ import annotations

from app.context import Context
from app.errors import JobFailed
from handlers.common.audit import record_push
from handlers.common.check_runs import CheckRun
from handlers.common.ci_files import ci_touches_at
from handlers.common.progress import ProgressComment, Step
from handlers.common.untrusted_text import defang
from handlers.common.verification import render_verification
from handlers.fix.pull_requests import open_or_update_draft_pr, render_pr_body, render_pr_title
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
    number = context.job.number or 0
    title = defang(" ".join(target.issue_title.split())[:60])
    return redact_text(
        f"Fix #{number}: {title}\n\n{defang(summary.strip()[:2000])}",
        context.settings.secret_values(),
    )


async def publish(
    context: Context,
    target: FixTarget,
    workspace: JobWorkspace,
    verified: Verified,
    progress: ProgressComment,
    check: CheckRun,
) -> None:
    """Commit as the App, push the work branch, and open (or refresh) the draft PR, saying what
    the host's test runs showed."""
    job = context.job
    number = job.number or 0
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
    pull = await open_or_update_draft_pr(
        context.github,
        job.repository,
        head_branch=workspace.branch,
        base_branch=target.default_branch,
        title=render_pr_title(target.issue_title, number, verification),
        draft=context.settings.draft_pull_requests,
        body=render_pr_body(number, result.summary, files, stats, touches, verification, secrets),
    )
    await progress.update(
        progress.state.opened(pull.html_url, pull.number, result.summary, stats, touches),
        force=True,
    )
    tests = render_verification(verification, secrets, heading="### Verification")
    await check.complete(
        verification.conclusion,
        f"Draft pull request #{pull.number}: {verification.short}",
        f"{result.summary or 'Changes pushed.'}\n\n{tests}",
    )
