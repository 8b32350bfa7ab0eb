"""Keeping a repository's declared schedules (`schedules:` in `.github/fixwright.yml`): the file
is read at the pushed commit and the repository's `source='repository'` schedules become what
it declares, in one transaction (the operator's API schedules are never touched). A file that is
not valid changes nothing: its problems are told once, as a failed check run on that commit."""

from __future__ import annotations

import uuid

from app.context import Context
from app.events import WebhookEvent
from app.repo_config import PATH, RepoConfig, RepoConfigError, load_repo_config
from app.store.schedules import Schedule, ScheduleSync
from handlers.common.check_runs import CheckRun, Conclusion

CHECK_NAME = "fixwright configuration"
NEXT_STEP = (
    f"Fix `{PATH}` on the default branch (see the README's per-repository settings and"
    " its Schedules section) and push it: the schedules are read again. Until then the"
    " repository's schedules stay as they were."
)


def declared(config: RepoConfig, context: Context, sha: str) -> list[Schedule]:
    job = context.job
    return [
        Schedule(
            id=uuid.uuid4().hex,
            repository=job.repository,
            installation_id=job.installation_id,
            name=entry.name,
            cron=entry.cron,
            timezone=entry.timezone,
            prompt=entry.prompt,
            output=entry.output,
            issue_number=entry.issue,
            source="repository",
            created_by=f"repository:{sha[:12]}",
        )
        for entry in config.schedules
    ]


def problems_summary(problems: list[str]) -> str:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return f"`{PATH}` at this commit is not valid:\n\n{listed}\n\n{NEXT_STEP}"


def said(sync: ScheduleSync) -> str:
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (
            ("created", sync.created),
            ("updated", sync.updated),
            ("removed", sync.removed),
            ("refused (an operator's schedule has the name)", sync.refused),
        )
        if names
    ]
    return "schedules " + ("; ".join(parts) if parts else "unchanged: none declared")


async def sync_schedules(event: WebhookEvent, context: Context) -> str:
    """Read the file at the pushed commit; keep its schedules, or report why they are not."""
    sha = str(event.payload.get("after") or "")
    job = context.job
    try:
        config = await load_repo_config(context.github, job.repository, ref=sha)
    except RepoConfigError as error:
        check = CheckRun(context.github, job.repository, sha, job.id, CHECK_NAME)
        title = f"{PATH} is not valid ({len(error.problems)} problem(s)): no schedule changed"
        await check.complete(Conclusion.FAILURE, title, problems_summary(error.problems))
        context.log.info("schedules.config_invalid", problems=len(error.problems))
        return f"`{PATH}` is not valid: {len(error.problems)} problem(s); no schedule changed"
    sync = await context.store.replace_repository_schedules(
        job.repository, declared(config, context, sha)
    )
    context.log.info(
        "schedules.synced",
        created=len(sync.created),
        updated=len(sync.updated),
        removed=len(sync.removed),
        refused=len(sync.refused),
    )
    return said(sync)
