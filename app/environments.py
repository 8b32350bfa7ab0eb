"""A job's environment, as the service asks the sandbox for it: which description applies, what
keys its cache, the build context and the hosts its set-up may reach.

The repository's files are read from the host's own git directory at the commit the job starts
from, never from the checkout handed to the agent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.config import REGISTRIES, Settings
from app.egress_defaults import default_allowlist
from app.environment_config import (
    DEVCONTAINER_PATH,
    EnvironmentConfig,
    EnvironmentConfigError,
    Problem,
    environment_from_devcontainer,
)
from sandbox.egress import narrowed
from sandbox.environment_spec import EnvironmentSpec
from sandbox.git_errors import GitError
from sandbox.git_tree import archive_directory, list_tree, read_blob
from sandbox.git_workspace import JobWorkspace

MAX_DEVCONTAINER_BYTES = 256 * 1024
MAX_CONTEXT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class JobEnvironment:
    """What the sandbox is asked to prepare, and the hosts its set-up may reach."""

    spec: EnvironmentSpec
    allowlist: tuple[str, ...]


def operator_allowlist(settings: Settings) -> tuple[str, ...]:
    """The operator's hosts, `registries` resolved to this host's package clients' ones."""
    hosts: list[str] = []
    for pattern in settings.egress_allowlist:
        for host in default_allowlist() if pattern == REGISTRIES else (pattern,):
            if host not in hosts:
                hosts.append(host)
    return tuple(hosts)


def _devcontainer(workspace: JobWorkspace) -> EnvironmentConfig | None:
    """The devcontainer description at the job's base commit, when the repository has one."""
    entries = list_tree(workspace.git_dir, workspace.base_sha, [DEVCONTAINER_PATH])
    if not entries:
        return None
    entry = entries[0]
    if not entry.is_regular_file or (entry.size or 0) > MAX_DEVCONTAINER_BYTES:
        raise EnvironmentConfigError(
            [Problem(DEVCONTAINER_PATH, 0, "must be a file of at most 256 KiB")]
        )
    return environment_from_devcontainer(read_blob(workspace.git_dir, entry.sha))


def describe(settings: Settings, workspace: JobWorkspace) -> EnvironmentConfig | None:
    """The environment that applies: the repository's file's, else its devcontainer's, else none."""
    return settings.repo_environment or _devcontainer(workspace)


def _spec(
    config: EnvironmentConfig, settings: Settings, workspace: JobWorkspace
) -> EnvironmentSpec:
    key_files = list_tree(workspace.git_dir, workspace.base_sha, list(config.cache_key_files))
    context_tar = dockerfile = None
    if config.dockerfile is not None:
        context = config.context or "."
        context_tar = archive_directory(
            workspace.git_dir, workspace.base_sha, context, MAX_CONTEXT_BYTES
        )
        prefix = "" if context in ("", ".") else context.rstrip("/") + "/"
        if not config.dockerfile.startswith(prefix):
            raise EnvironmentConfigError(
                [Problem(config.source, 0, f"the Dockerfile is outside its context `{context}`")]
            )
        dockerfile = config.dockerfile[len(prefix) :]
    return EnvironmentSpec(
        base_image=config.image,
        dockerfile=dockerfile,
        context_tar=context_tar,
        setup=config.setup,
        key_material=tuple((entry.path, entry.sha) for entry in key_files if entry.kind == "blob"),
        tools_image=settings.sandbox_image,
        description=config.source,
    )


def _allowlist(config: EnvironmentConfig, operator: tuple[str, ...]) -> tuple[str, ...]:
    if config.allow_hosts is None:
        return operator
    hosts, problems = narrowed(operator, config.allow_hosts)
    if problems:
        raise EnvironmentConfigError(
            [Problem(config.source, 0, f"`allow_hosts`: {problem}") for problem in problems]
        )
    return hosts


def _job_environment(settings: Settings, workspace: JobWorkspace) -> JobEnvironment | None:
    config = describe(settings, workspace)
    if config is None:
        return None
    try:
        spec = _spec(config, settings, workspace)
    except GitError as error:
        raise EnvironmentConfigError([Problem(config.source, 0, error.message)]) from None
    return JobEnvironment(spec, _allowlist(config, operator_allowlist(settings)))


async def job_environment(settings: Settings, workspace: JobWorkspace) -> JobEnvironment | None:
    """The environment to prepare for this job, or None for the sandbox image as it is; raises
    EnvironmentConfigError, each problem with its file and line, for a description that is not
    valid."""
    return await asyncio.to_thread(_job_environment, settings, workspace)
