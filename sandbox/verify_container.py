"""The container a fix's tests run in: a pure spec (docker-py kwargs), hardened as the agent's is.

The host runs the repository's test command twice, on the base commit and on the result, each
time in a fresh container on a copy of the tree the host wrote from its own git objects. The
container gets what the agent's gets (no network, no capability, a read-only root, non-root,
the same memory, CPU and process limits), and less: no relay socket, no capability token, no
stdin. Only the copy is writable, and it is thrown away after the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.container import (
    AGENT_HOME,
    WORKSPACE,
    SandboxLimits,
    agent_filesystem,
    container_name,
    job_labels,
    resource_limits,
)

# Which run of a job's tests a container is ("before", "after", "after-2"); the job and role
# labels are the agent's, so the orphan clean-up removes these containers as well.
VERIFY_LABEL = "fixwright.verify"
# A test run's output goes to the host through the attached stream only: Docker's logging driver
# would otherwise keep all of it on the engine's disk.
NO_LOGS = {"type": "none", "config": {}}


@dataclass(frozen=True)
class VerifySpec:
    """One run of a repository's test command on one tree of the host's git directory."""

    job_id: str
    label: str  # which run: "before", "after", "after-2"; names its container and its copy
    git_dir: Path  # the host's git directory, which holds `tree`
    tree: str  # the commit or tree to test
    command: str  # run with `sh -c` at the top of the copy
    timeout_seconds: float
    scratch: Path  # the job's own directory, where the host writes the copy
    image: str | None = None  # None: the sandbox image of the settings


def run_name(label: str) -> str:
    """The label as a Docker- and file-safe word."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", label)[:40] or "run"


def verify_container_name(spec: VerifySpec) -> str:
    """`fixwright-job-<id>-verify-<label>`: beside the agent's container, never in its place."""
    return f"{container_name(spec.job_id)}-verify-{run_name(spec.label)}"


def verify_environment() -> dict[str, str]:
    """The whole environment the tests see besides the image's own (PATH): no secret, no relay,
    and nothing that asks for colours, which would only be taken out of the output again."""
    return {
        "HOME": AGENT_HOME,
        "CI": "true",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
    }


def verify_container_kwargs(spec: VerifySpec, limits: SandboxLimits, copy: Path) -> dict[str, Any]:
    """The keyword arguments for `client.containers.create`: the agent's hardening, no way out."""
    return {
        "image": spec.image or limits.image,
        "name": verify_container_name(spec),
        # The command is the repository's own, as its CI would run it; a shell reads it.
        "entrypoint": ["/bin/sh", "-c", spec.command],
        "command": None,
        "environment": verify_environment(),
        "labels": {**job_labels(spec.job_id, limits), VERIFY_LABEL: run_name(spec.label)},
        "network_mode": "none",
        **agent_filesystem(spec.image is not None),
        # The host's copy of the tree, and nothing else of the host.
        "volumes": {str(copy): {"bind": WORKSPACE, "mode": "rw"}},
        **resource_limits(limits.memory, limits.cpus, limits.pids, limits.runtime),
        "log_config": NO_LOGS,
        "stdin_open": False,
        "tty": False,
    }
