"""A prepared environment, pure: its cache key, the layer that adds fixwright's tools to any image,
and the hardened setup container's spec (docker-py kwargs), like `sandbox/container.py`'s."""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.container import (
    AGENT_HOME,
    AGENT_UID,
    INSTANCE_LABEL,
    JOB_LABEL,
    ROLE_LABEL,
    TMPFS_OPTIONS,
    WORKSPACE,
    resource_limits,
)

ENVIRONMENT_REPOSITORY = "fixwright-env"
ENVIRONMENT_ROLE = "environment"
SETUP_ROLE = "setup"
KEY_LABEL = "fixwright.environment"
# Where the tools live in the sandbox image, and where the tools layer puts them.
TOOLS = ("/usr/local/bin/claude", "/usr/local/bin/fixwright-forward")
# Bumped when the tools layer or the setup container changes what an environment holds.
FORMAT = 1


@dataclass(frozen=True)
class EnvironmentSpec:
    """What the service asks for: where the environment starts, what sets it up, what keys it."""

    base_image: str | None  # an image the engine has (or can pull), or None with `dockerfile`
    dockerfile: str | None  # the Dockerfile's path inside `context_tar`
    context_tar: bytes | None  # the build context, made by the host from its own git objects
    setup: tuple[str, ...]  # shell commands, run in order as the agent user
    key_material: tuple[tuple[str, str], ...]  # (path, blob id) of the files that key the cache
    tools_image: str  # the sandbox image, whose CLI and forwarder are added to the environment
    description: str  # where it was described, for the thread


def cache_key(spec: EnvironmentSpec, base_image_id: str, tools_image_id: str) -> str:
    """The environment's identity: the base it starts from, its set-up, the content of its key
    files and the tools added to it. The same key is the same environment."""
    identity = {
        "format": FORMAT,
        "base": base_image_id,
        "setup": list(spec.setup),
        "files": sorted(spec.key_material),
        "tools": tools_image_id,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def image_tag(key: str) -> str:
    return f"{ENVIRONMENT_REPOSITORY}:{key[:32]}"


def tools_dockerfile(base_image_id: str, tools_image: str) -> str:
    """The layer fixwright adds on top of any image: the CLI and the relay forwarder (both need no
    more than the C library), a home and a workspace owned by the agent's uid. No `RUN`: the
    base image need not have a shell for it."""
    tools = " ".join(TOOLS)
    return (
        f"FROM {base_image_id}\n"
        f"COPY --from={tools_image} {tools} /usr/local/bin/\n"
        f"COPY --chown={AGENT_UID}:{AGENT_UID} home {AGENT_HOME}\n"
        f"COPY --chown={AGENT_UID}:{AGENT_UID} workspace {WORKSPACE}\n"
        f"ENV HOME={AGENT_HOME} CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1\n"
        f"LABEL {ROLE_LABEL}={ENVIRONMENT_ROLE}\n"
    )


def setup_script(commands: Sequence[str], environment: Mapping[str, str] | None = None) -> str:
    """One shell script: its variables exported, then each command in turn, announced, stopping
    at the first that fails.

    The variables (the proxy's address, the CA bundle's path) are the script's, not the
    container's: a committed container keeps its configuration, and the environment's image must
    not tell every later process to use a proxy that is gone."""
    lines = ["set -e"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in (environment or {}).items()]
    for number, command in enumerate(commands, 1):
        lines.append(
            f"printf '%s\\n' {shlex.quote(f'fixwright setup [{number}/{len(commands)}]: {command[:200]}')} >&2"
        )
        lines.append(command)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SetupLimits:
    """The setup container's limits: the sandbox's own, and a time of its own."""

    memory: str
    cpus: float
    pids: int
    timeout_seconds: float
    runtime: str
    instance: str


def setup_container_kwargs(
    image: str,
    commands: Sequence[str],
    *,
    job_id: str,
    network: str,
    environment: Mapping[str, str],
    checkout: Path,
    limits: SetupLimits,
) -> dict[str, Any]:
    """The setup container: the sandbox's hardening, the job's checkout read-only (the set-up
    prepares the environment, never the repository), and the network of the job's proxy only.

    The root filesystem is writable here, unlike the agent's: what the set-up installs is the
    environment, committed once it succeeds."""
    return {
        "image": image,
        "entrypoint": ["/bin/sh", "-c", setup_script(commands, environment)],
        "command": [],
        "environment": {"HOME": AGENT_HOME},
        "user": f"{AGENT_UID}:{AGENT_UID}",
        "working_dir": WORKSPACE,
        "labels": {JOB_LABEL: job_id, ROLE_LABEL: SETUP_ROLE, INSTANCE_LABEL: limits.instance},
        "network": network,
        **resource_limits(limits.memory, limits.cpus, limits.pids, limits.runtime),
        "tmpfs": {"/tmp": TMPFS_OPTIONS},  # noqa: S108 - the container's own
        "volumes": {str(checkout): {"bind": WORKSPACE, "mode": "ro"}},
        "detach": True,
    }
