"""The hardened sandbox container: a pure spec (docker-py kwargs) and its clean-up."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.models.resource import Model

from sandbox.session import SessionState, Transcript

AGENT_UID = 1000
AGENT_HOME = "/home/agent"
WORKSPACE = "/workspace"
RELAY_SOCKET_IN_CONTAINER = "/run/fixwright/model.sock"
# The loopback port inside the container where the forwarder listens for the relay. The container
# has its own network namespace with nothing else in it, so any fixed port is free.
RELAY_PORT = 8377
JOB_LABEL = "fixwright.job"
ROLE_LABEL = "fixwright.role"
INSTANCE_LABEL = "fixwright.instance"
# The worker holding the job's lease when the run's container was made (sandbox/orphans.py).
OWNER_LABEL = "fixwright.owner"
ROLE = "sandbox"
# The containers a job runs besides its sandbox: its environment's set-up, its egress proxy.
JOB_ROLES = frozenset({ROLE, "setup", "egress"})

# Tools the CLI may use without asking: nobody is there to answer a permission prompt.
EDIT_TOOLS = ("Bash", "Read", "Edit", "MultiEdit", "Write", "Glob", "Grep", "LS", "TodoWrite")
READ_ONLY_TOOLS = ("Bash", "Read", "Glob", "Grep", "LS", "TodoWrite")
# The container has no network; these would only fail slowly.
ALWAYS_DISALLOWED = ("WebFetch", "WebSearch")
# The repository's agent configuration (hooks, settings, MCP servers, agents, commands, skills,
# workflows) is untrusted input, and none of it is loaded; its CLAUDE.md is, as the README says.
# Measured on the pinned CLI (tests/test_sandbox_repository_config.py): `--setting-sources user`
# alone keeps out the repository's settings, hooks, MCP servers, agents, commands and skills, but
# CLAUDE.md too. Each flag below closes one door again, should another setting open it:
REPOSITORY_CONFIG_FLAGS = (
    # no MCP server but those given on the command line (none); even project ones a setting allows
    "--strict-mcp-config",
    # no skill and no custom command: the Skill tool is not offered
    "--disable-slash-commands",
)
# Settings of our own, which outrank every settings file: no hook runs whoever declared it, and
# CLAUDE.md is read from the workspace, passed as an extra directory, without project settings.
OWN_SETTINGS = json.dumps(
    {"disableAllHooks": True, "env": {"CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD": "1"}},
    separators=(",", ":"),
)

# The forwarder (sandbox/forward.c, static, in every image fixwright runs) listens on the
# container's loopback, then becomes the CLI (exec: stdin, the prompt, stays the CLI's) while a
# child process forwards each connection to the relay socket.
FORWARDER = "/usr/local/bin/fixwright-forward"
ENTRYPOINT = [FORWARDER, str(RELAY_PORT), RELAY_SOCKET_IN_CONTAINER, "--"]
# The CLI's state (its session, `.claude.json`) in a home of its own: in a prepared environment
# the agent's home is the image's, read-only, holding what the set-up installed there.
CLAUDE_STATE = f"{AGENT_HOME}/.claude"
# Every writable tmpfs of a job's containers: no setuid, no devices, bounded.
TMPFS_OPTIONS = "rw,nosuid,nodev,size=512m"
FORWARDER_FAILED_EXIT = 90


@dataclass(frozen=True)
class SandboxLimits:
    """What every run on this host gets, from the operator (app/sandbox_service.py builds it from
    the service's settings): the image and runtime, the container's limits, the run's defaults."""

    image: str
    runtime: str  # "runc", or "runsc" for gVisor
    memory: str  # in Docker's form: "2g", "512m", a byte count
    cpus: float
    pids: int
    timeout_seconds: float
    max_turns: int
    model: str  # "" for the CLI's own default
    token_budget: int  # a run's tokens when no budget is given for it
    max_output_tokens: int  # the most output one model request may ask for
    max_line_bytes: int  # the longest line of the CLI's output read
    workspace_max_bytes: int  # the workspace's disk use while the run goes on
    workspace_max_files: int
    instance: str  # labels this deployment's containers on a shared engine
    transcript_max_bytes: int = 8 * 1024 * 1024  # the largest session transcript taken out
    owner: str = ""  # the worker holding the job's lease, labelled on the run's containers


@dataclass(frozen=True)
class RunSpec:
    """One task for the CLI: where it works, what it is told, and what it may do."""

    job_id: str
    workspace: Path
    prompt: str
    append_system_prompt: str = ""
    model: str = ""
    max_turns: int | None = None
    allowed_tools: tuple[str, ...] = EDIT_TOOLS
    disallowed_tools: tuple[str, ...] = ALWAYS_DISALLOWED
    read_only: bool = False
    timeout_seconds: float | None = None
    # A prepared environment's image (None: the sandbox image), and the network of the job's
    # egress proxy with the variables that name it (the operator's `FIXWRIGHT_AGENT_EGRESS`).
    image: str | None = None
    network: str | None = None
    network_environment: tuple[tuple[str, str], ...] = ()
    # A session an earlier run left: put back before the run, and the CLI resumes it.
    resume: Transcript | None = None


def container_name(job_id: str) -> str:
    """A readable, Docker-safe container name for the job."""
    return "fixwright-job-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", job_id)[:100]


def offered_tools(spec: RunSpec) -> list[str]:
    """The built-in tools the CLI offers at all: those allowed, without Bash's command patterns.

    Nothing else is offered, so the tools that would reach agents, skills, workflows or deferred
    tools (Agent, Skill, Workflow, ToolSearch, ...) do not exist in the run.
    """
    offered: list[str] = []
    for tool in spec.allowed_tools:
        name = tool.split("(", 1)[0]
        if name not in offered and name not in spec.disallowed_tools:
            offered.append(name)
    return offered


def session_arguments(spec: RunSpec, session_id: str | None) -> list[str]:
    """Whether and how the CLI keeps its session: none kept without a session id; the resumed
    session, appended to under its own id; or a new one under the id the host chose."""
    if spec.resume is not None:
        return ["--resume", spec.resume.session_id]
    if session_id is None:
        return ["--no-session-persistence"]
    return ["--session-id", session_id]


def claude_command(
    spec: RunSpec, limits: SandboxLimits, *, session_id: str | None = None
) -> list[str]:
    """The CLI's argv; the prompt is not in it: it arrives on stdin."""
    command = [
        "claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--max-turns",
        str(spec.max_turns or limits.max_turns),
        *session_arguments(spec, session_id),
        # Settings files inside the repository are untrusted input: read only the (empty) user's.
        "--setting-sources",
        "user",
        *REPOSITORY_CONFIG_FLAGS,
        "--tools=" + ",".join(offered_tools(spec)),
        "--add-dir=" + WORKSPACE,
        "--settings=" + OWN_SETTINGS,
        "--allowedTools=" + ",".join(spec.allowed_tools),
    ]
    if spec.disallowed_tools:
        command.append("--disallowedTools=" + ",".join(spec.disallowed_tools))
    model = spec.model or limits.model
    if model:
        command += ["--model", model]
    if spec.append_system_prompt:
        command += ["--append-system-prompt", spec.append_system_prompt]
    return command


def container_environment(capability: str, max_output_tokens: int) -> dict[str, str]:
    """The container's whole environment: the relay address and a per-job capability, no secret.

    The CLI is told to ask for no more output per request than the relay lets through.
    """
    return {
        "CLAUDE_CONFIG_DIR": CLAUDE_STATE,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{RELAY_PORT}",
        "ANTHROPIC_API_KEY": capability,
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(max_output_tokens),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_TELEMETRY": "1",
        "HOME": AGENT_HOME,
    }


def agent_filesystem(prepared_image: bool) -> dict[str, Any]:
    """Who runs, where, and what may be written, for every container that runs as the agent
    (its own run, a repository's tests): a read-only root, /tmp, and the home; in a prepared
    environment the home is the image's (read-only, holding what the set-up installed) and only
    the CLI's state in it is writable."""
    owned = f"{TMPFS_OPTIONS},uid={AGENT_UID},gid={AGENT_UID}"
    home = CLAUDE_STATE if prepared_image else AGENT_HOME
    return {
        "user": f"{AGENT_UID}:{AGENT_UID}",
        "working_dir": WORKSPACE,
        "read_only": True,
        "tmpfs": {"/tmp": TMPFS_OPTIONS, home: owned},  # noqa: S108 - the container's own /tmp
    }


def job_labels(job_id: str, limits: SandboxLimits) -> dict[str, str]:
    """The labels of a run's container: its job, role and deployment, and its lease owner (when
    known) so that a reaper tells a live run from an earlier attempt's leftover."""
    labels = {JOB_LABEL: job_id, ROLE_LABEL: ROLE, INSTANCE_LABEL: limits.instance}
    if limits.owner:
        labels[OWNER_LABEL] = limits.owner
    return labels


def network_settings(spec: RunSpec) -> dict[str, str]:
    """No network at all; or, when the operator allows the agent its proxy, the proxy's network."""
    if spec.network is None:
        return {"network_mode": "none"}
    return {"network": spec.network}


def resource_limits(memory: str, cpus: float, pids: int, runtime: str) -> dict[str, Any]:
    """The limits and isolation every container of a job gets (agent, tests, set-up)."""
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory,
        # Equal to the memory limit: no swap, so a memory hog is killed rather than slowed.
        "memswap_limit": memory,
        "nano_cpus": int(cpus * 1e9),
        "pids_limit": pids,
        "runtime": runtime,
        "init": True,
        "ipc_mode": "private",
    }


def container_kwargs(
    spec: RunSpec,
    limits: SandboxLimits,
    *,
    relay_socket: Path,
    capability: str,
    session: SessionState | None = None,
) -> dict[str, Any]:
    """The keyword arguments for `client.containers.create`: everything that hardens the run.

    With `session`, the CLI keeps its state (and the session) in that host directory.
    """
    environment = {
        **dict(spec.network_environment),
        **container_environment(capability, limits.max_output_tokens),
    }
    filesystem = agent_filesystem(spec.image is not None)
    volumes: dict[str, dict[str, str]] = {
        str(spec.workspace): {"bind": WORKSPACE, "mode": "ro" if spec.read_only else "rw"},
        str(relay_socket): {"bind": RELAY_SOCKET_IN_CONTAINER, "mode": "ro"},
    }
    if session is not None:
        filesystem["tmpfs"] = {
            path: options for path, options in filesystem["tmpfs"].items() if path != CLAUDE_STATE
        }
        volumes[str(session.directory)] = {"bind": CLAUDE_STATE, "mode": "rw"}
    return {
        "image": spec.image or limits.image,
        "name": container_name(spec.job_id),
        "entrypoint": ENTRYPOINT,
        "command": claude_command(spec, limits, session_id=session.session_id if session else None),
        "environment": environment,
        "labels": job_labels(spec.job_id, limits),
        **network_settings(spec),
        **resource_limits(limits.memory, limits.cpus, limits.pids, limits.runtime),
        **filesystem,
        "volumes": volumes,
        # Attached, with stdin open: docker-py then sets StdinOnce, so closing the attached stdin
        # after writing the prompt gives the CLI its end of input.
        "stdin_open": True,
        "tty": False,
        "detach": False,
    }


def engine_id(model: Model) -> str:
    """The id of a container or image the engine returned. docker-py types it as optional (a
    model built by hand may lack one); the engine's own answers always carry it."""
    if model.id is None:
        raise DockerException(f"Docker returned a {type(model).__name__.lower()} without an id")
    return model.id


def remove_container(container: Container) -> None:
    """Kill and remove a container, tolerating one that is already gone."""
    try:
        container.remove(force=True)
    except NotFound:
        return
    except APIError as error:
        # "removal already in progress" is as good as removed.
        if "already in progress" not in str(error):
            raise


def remove_leftover(client: docker.DockerClient, name: str) -> bool:
    """Remove a container an earlier attempt of the same job left (its worker died); True if one was."""
    try:
        leftover = client.containers.get(name)
    except NotFound:
        return False
    remove_container(leftover)
    return True
