"""A fix verified by the host before its pull request says anything: the repository's tests run on
the base commit and on the result, each in a fresh sandbox container with no network on a copy the
host wrote from its own git objects; failing tests go back to Claude for repair rounds.

The test command is the repository's own (`verify.command`), else detected from the files the
base commit holds, read from the host's git directory (never from the agent's checkout).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from app import job_events
from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.quota import job_budget_spent, limits_from
from handlers.common.check_runs import CheckRun
from handlers.common.progress import ProgressComment
from handlers.common.protected_paths import refuse_protected_changes
from handlers.common.run_outcomes import run_failure
from handlers.common.run_stats import RunStats, combined, run_stats, usage_record, without_secrets
from handlers.common.verification import (
    Verdict,
    Verification,
    before_and_after,
    judge,
    not_verified,
)
from handlers.fix.read_back import read_back
from handlers.fix.repair_prompt import failure_report, repair_prompt
from handlers.fix.run import fix_prompt, run_claude
from handlers.fix.test_command import CommandChoice, TopFile, choose_command, files_to_read
from sandbox.git_tree import list_tree, read_blob
from sandbox.git_workspace import JobWorkspace
from sandbox.runner import Outcome, RunResult
from sandbox.snapshot import Snapshot
from sandbox.test_output import TestRun
from sandbox.verify_container import VerifySpec


@dataclass(frozen=True)
class Attempt:
    """A fix as it stands: the host's snapshot of it, the files it changes, Claude's last run,
    and what its runs cost so far."""

    changes: Snapshot
    files: list[str]
    result: RunResult
    stats: RunStats


@dataclass(frozen=True)
class Verified:
    """The fix to publish (the last round's), and what its tests said."""

    attempt: Attempt
    verification: Verification


def base_ref(workspace: JobWorkspace) -> str:
    """The commit the pull request is against: the default branch as it was cloned."""
    return f"refs/remotes/origin/{workspace.default_branch}"


def _read_top(workspace: JobWorkspace) -> tuple[list[TopFile], dict[str, str]]:
    """The entries at the top of the base commit and the texts of the candidate files, from the
    host's git directory."""
    entries = list_tree(workspace.git_dir, base_ref(workspace), [])
    top = [TopFile(entry.path, entry.is_regular_file, entry.size) for entry in entries]
    wanted = set(files_to_read(top))
    texts = {
        entry.path: read_blob(workspace.git_dir, entry.sha)
        for entry in entries
        if entry.path in wanted
    }
    return top, texts


async def choose_test_command(settings: Settings, workspace: JobWorkspace) -> CommandChoice:
    """The repository's command, or one detected from its base commit's files."""
    if settings.repo_verify_off or settings.repo_verify_command:
        top: list[TopFile] = []
        texts: dict[str, str] = {}
    else:
        top, texts = await asyncio.to_thread(_read_top, workspace)
    return await asyncio.to_thread(
        lambda: choose_command(
            configured=settings.repo_verify_command,
            turned_off=settings.repo_verify_off,
            entries=top,
            texts=texts,
        )
    )


@dataclass
class _Tests:
    """The runs of one job's tests: the command, the image, and where the progress is shown."""

    context: Context
    workspace: JobWorkspace
    command: str
    image: str | None
    progress: ProgressComment
    check: CheckRun

    async def run(self, tree: str, label: str, which: str) -> TestRun:
        await self.progress.update(self.progress.state.running_tests(which))
        await self.check.in_progress(f"Running the tests {which}")
        spec = VerifySpec(
            job_id=self.context.job.id,
            label=label,
            git_dir=self.workspace.git_dir,
            tree=tree,
            command=self.command,
            timeout_seconds=self.context.settings.verify_timeout_seconds,
            scratch=self.workspace.path.parent,
            image=self.image,
        )
        run = await self.context.require_sandbox().verify(spec)
        await self.context.emit(job_events.test_run(label, run))
        return run


async def verify_fix(
    event: WebhookEvent,
    context: Context,
    workspace: JobWorkspace,
    attempt: Attempt,
    progress: ProgressComment,
    check: CheckRun,
    *,
    image: str | None = None,
) -> Verified:
    """Run the tests before and after the change (in `image`; None is the sandbox image), give
    failing tests back to Claude for up to the repository's repair rounds, and say what they showed."""
    choice = await choose_test_command(context.settings, workspace)
    if not choice.command:
        return await _finish(context, progress, Verified(attempt, not_verified(choice.why)))
    tests = _Tests(context, workspace, choice.command, image, progress, check)
    before = await tests.run(base_ref(workspace), "before", "before the change")
    after = await tests.run(attempt.changes.tree, "after", "after the change")
    verdict, note = judge(before, after)
    rounds = 0
    limit = context.settings.verify_max_rounds
    while verdict is Verdict.FAILED and rounds < limit:
        if job_budget_spent(
            limits_from(context.settings, context.job.installation_id), usage_record(attempt.stats)
        ):
            note = "The job's budget is spent, so Claude was given no repair round."
            break
        rounds += 1
        report = failure_report(
            command=choice.command,
            before=before,
            after=after,
            round_number=rounds,
            rounds=limit,
            secrets=context.settings.secret_values(),
        )
        attempt, problem = await _repair(
            event, context, workspace, attempt, progress, rounds, report, image
        )
        if problem:
            note = problem
            break
        after = await tests.run(
            attempt.changes.tree, f"after-{rounds + 1}", f"after repair round {rounds}"
        )
        verdict, note = judge(before, after)
    verification = Verification(verdict, choice.command, choice.why, before, after, rounds, note)
    return await _finish(context, progress, Verified(attempt, verification))


async def _repair(
    event: WebhookEvent,
    context: Context,
    workspace: JobWorkspace,
    attempt: Attempt,
    progress: ProgressComment,
    round_number: int,
    report: str,
    image: str | None,
) -> tuple[Attempt, str]:
    """Repair round `round_number`: Claude on the same checkout with the failing output; the
    attempt it leaves (its cost added even when it gave nothing), and why nothing when so."""
    rounds = context.settings.verify_max_rounds
    await progress.update(progress.state.repairing(round_number, rounds), force=True)
    # Resumed, the session holds the task already: the report alone is the next message.
    resume = attempt.result.transcript
    prompt = report if resume else repair_prompt(await fix_prompt(event, context), report)
    result, model = await run_claude(
        event, context, workspace, progress, image, prompt=prompt, resume=resume
    )
    result = without_secrets(result, context.settings.secret_values())
    settings = context.settings
    stats = combined(
        attempt.stats, run_stats(result, model or settings.model, result.seconds, settings)
    )
    await context.set_usage(usage_record(stats))
    progress.state = replace(progress.state, stats=stats)
    attempt = replace(attempt, stats=stats)
    if result.outcome is not Outcome.SUCCESS:
        reason, _ = run_failure(result, settings, context.kind.words)
        return attempt, f"Repair round {round_number} did not finish: {reason}"
    changes = await read_back(workspace, context)
    await asyncio.to_thread(
        refuse_protected_changes, changes.changed_files, settings.repo_protected_paths
    )
    if not changes.changed_files:
        return attempt, f"Repair round {round_number} undid the change, so it was not kept."
    return Attempt(changes, changes.changed_files, result, stats), ""


async def _finish(context: Context, progress: ProgressComment, verified: Verified) -> Verified:
    """Say what the tests showed: the progress comment, the log, the metric."""
    verification = verified.verification
    progress.state = progress.state.verified(verification)
    await progress.update(progress.state)
    await context.emit(job_events.verification(verification))
    if context.metrics is not None:
        context.metrics.verifications.labels(result=verification.metric_result).inc()
    context.log.info(
        "fix.verified",
        result=str(verification.verdict),
        chosen=verification.chosen[:200],
        tests=before_and_after(verification) if verification.after else "",
        rounds=verification.rounds,
    )
    return verified
