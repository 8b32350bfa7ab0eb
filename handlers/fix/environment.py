"""The environment a fix runs in: the repository's own, prepared behind the job's proxy (or found
in the cache), or the sandbox image as it is when the repository describes none."""

from __future__ import annotations

from app.context import Context
from app.environment_config import EnvironmentConfigError
from app.environments import job_environment
from app.errors import JobFailed
from handlers.common.audit import record_config_error
from handlers.common.untrusted_text import code_safe
from sandbox.environment import EnvironmentFailed
from sandbox.git_workspace import JobWorkspace

REFUSED_SHOWN = 10


def invalid_description(error: EnvironmentConfigError, then_retry: str) -> JobFailed:
    """The thread hears each problem with its file and line."""
    problems = "\n".join(f"- {problem}" for problem in error.problems)
    return JobFailed(
        f"the repository's environment is not described correctly:\n\n{problems}\n",
        f"Fix the file on the default branch, {then_retry}",
    )


def refused_hosts(refused: list[str]) -> str:
    """The hosts the proxy refused, once each, as inert code."""
    unique = list(dict.fromkeys(refused))
    shown = ", ".join(f"`{code_safe(host)}`" for host in unique[:REFUSED_SHOWN])
    more = f" and {len(unique) - REFUSED_SHOWN} more" if len(unique) > REFUSED_SHOWN else ""
    return f" The proxy refused connections to {shown}{more}: not on the allow-list."


async def prepare_environment(context: Context, workspace: JobWorkspace) -> str | None:
    """The image the agent (and the verification) start from; None for the sandbox image."""
    words = context.kind.words
    try:
        wanted = await job_environment(context.settings, workspace)
    except EnvironmentConfigError as error:
        await record_config_error(context, str(error))
        raise invalid_description(error, words.then_retry) from None
    if wanted is None:
        return None
    try:
        prepared = await context.require_sandbox().prepare(
            wanted.spec,
            allowlist=wanted.allowlist,
            job_id=context.job.id,
            checkout=workspace.path,
        )
    except EnvironmentFailed as failure:
        shown = refused_hosts(failure.refused) if failure.refused else ""
        raise JobFailed(
            failure.reason + shown,
            f"{failure.next_step.removesuffix('.')} ({words.retry_hint.lower().removesuffix('.')}).",
        ) from None
    details = {
        "image": prepared.image,
        "described_in": wanted.spec.description,
        "cached": prepared.cache_hit,
        "seconds": round(prepared.seconds, 3),
        "refused": prepared.refused,
    }
    await context.record("environment", details)
    context.log.info("environment.ready", **details)
    return prepared.image
