"""The container spec is a pure function: what it asks of Docker is checked by equality."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from app.config import Settings
from app.sandbox_service import sandbox_limits
from sandbox.container import (
    READ_ONLY_TOOLS,
    RunSpec,
    SandboxLimits,
    claude_command,
    container_kwargs,
    container_name,
)

INSTANCE = hashlib.sha256(b"/srv/fixwright/fixwright.db").hexdigest()[:16]
LIMITS = SandboxLimits(
    image="fixwright-sandbox:test",
    runtime="runc",
    memory="1g",
    cpus=1.5,
    pids=256,
    timeout_seconds=1800,
    max_turns=12,
    model="claude-sonnet-4-5",
    token_budget=2_000_000,
    max_output_tokens=32_000,
    max_line_bytes=4 * 1024 * 1024,
    workspace_max_bytes=10 * 1024**3,
    workspace_max_files=1_000_000,
    instance=INSTANCE,
)
SPEC = RunSpec(job_id="job-42", workspace=Path("/srv/jobs/42/repo"), prompt="Fix the bug")


def test_container_kwargs_are_exactly_the_hardened_spec() -> None:
    """A fix job gets no network, no capabilities, a read-only root, limits, and only two mounts."""
    kwargs = container_kwargs(
        SPEC, LIMITS, relay_socket=Path("/run/fixwright/relay.sock"), capability="cap-123"
    )
    assert kwargs == {
        "image": "fixwright-sandbox:test",
        "name": "fixwright-job-job-42",
        "entrypoint": [
            "/usr/local/bin/fixwright-forward",
            "8377",
            "/run/fixwright/model.sock",
            "--",
        ],
        "command": [
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--max-turns",
            "12",
            "--no-session-persistence",
            "--setting-sources",
            "user",
            "--strict-mcp-config",
            "--disable-slash-commands",
            "--tools=Bash,Read,Edit,MultiEdit,Write,Glob,Grep,LS,TodoWrite",
            "--add-dir=/workspace",
            '--settings={"disableAllHooks":true,'
            '"env":{"CLAUDE_CODE_ADDITIONAL_DIRECTORIES_CLAUDE_MD":"1"}}',
            "--allowedTools=Bash,Read,Edit,MultiEdit,Write,Glob,Grep,LS,TodoWrite",
            "--disallowedTools=WebFetch,WebSearch",
            "--model",
            "claude-sonnet-4-5",
        ],
        "environment": {
            "CLAUDE_CONFIG_DIR": "/home/agent/.claude",
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:8377",
            "ANTHROPIC_API_KEY": "cap-123",
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "32000",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_TELEMETRY": "1",
            "HOME": "/home/agent",
        },
        "user": "1000:1000",
        "working_dir": "/workspace",
        "labels": {
            "fixwright.job": "job-42",
            "fixwright.role": "sandbox",
            # sha256("/srv/fixwright/fixwright.db")[:16]: names the deployment, not the host
            "fixwright.instance": INSTANCE,
        },
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {
            "/tmp": "rw,nosuid,nodev,size=512m",
            "/home/agent": "rw,nosuid,nodev,size=512m,uid=1000,gid=1000",
        },
        "volumes": {
            "/srv/jobs/42/repo": {"bind": "/workspace", "mode": "rw"},
            "/run/fixwright/relay.sock": {"bind": "/run/fixwright/model.sock", "mode": "ro"},
        },
        "mem_limit": "1g",
        "memswap_limit": "1g",
        "nano_cpus": 1_500_000_000,
        "pids_limit": 256,
        "runtime": "runc",
        "init": True,
        "ipc_mode": "private",
        "stdin_open": True,
        "tty": False,
        "detach": False,
    }


def test_no_secret_of_the_host_reaches_the_container_spec() -> None:
    """The limits the service hands the sandbox carry none of its secrets, so the real model key
    and the webhook secret appear nowhere in what Docker is given."""
    settings = Settings(
        webhook_secrets=("whsec-canary-0123",),
        anthropic_api_key="sk-ant-real-key-canary",
        metrics_token="metrics-canary-4567",
    )
    limits = sandbox_limits(settings)
    kwargs = container_kwargs(SPEC, limits, relay_socket=Path("/r.sock"), capability="cap")
    text = repr(kwargs) + repr(limits)
    assert settings.secret_values()
    for secret in settings.secret_values():
        assert secret not in text


def test_review_jobs_mount_the_workspace_read_only_with_read_only_tools() -> None:
    """A review job cannot write the workspace, and its CLI is not offered editing tools."""
    spec = RunSpec(
        job_id="r1",
        workspace=Path("/w"),
        prompt="Review",
        read_only=True,
        allowed_tools=READ_ONLY_TOOLS,
    )
    kwargs = container_kwargs(spec, LIMITS, relay_socket=Path("/r.sock"), capability="c")
    assert kwargs["volumes"]["/w"] == {"bind": "/workspace", "mode": "ro"}
    assert "--allowedTools=Bash,Read,Glob,Grep,LS,TodoWrite" in kwargs["command"]


def test_only_the_allowed_built_in_tools_are_offered() -> None:
    """`--tools` names the allowed tools without their command patterns, and never a disallowed one."""
    spec = RunSpec(
        job_id="r1",
        workspace=Path("/w"),
        prompt="Review",
        allowed_tools=("Read", "Grep", "Bash(git log:*)", "Bash(pytest:*)"),
        disallowed_tools=("WebFetch", "Write"),
    )
    assert "--tools=Read,Grep,Bash" in claude_command(spec, LIMITS)
    spec = RunSpec(
        job_id="r2",
        workspace=Path("/w"),
        prompt="Review",
        allowed_tools=("Read", "Grep"),
        disallowed_tools=("Bash",),
    )
    assert "--tools=Read,Grep" in claude_command(spec, LIMITS)


def test_the_prompt_never_appears_in_the_command_line() -> None:
    """The prompt goes in on stdin, so neither a shell nor `ps` ever sees it."""
    spec = RunSpec(job_id="j", workspace=Path("/w"), prompt="$(rm -rf /) `id`; echo pwned")
    kwargs = container_kwargs(spec, LIMITS, relay_socket=Path("/r.sock"), capability="c")
    assert all(spec.prompt not in part for part in kwargs["command"] + kwargs["entrypoint"])


def test_run_spec_overrides_the_operator_defaults() -> None:
    """A job's own model, turn limit and appended system prompt win over the settings'."""
    spec = RunSpec(
        job_id="j",
        workspace=Path("/w"),
        prompt="p",
        model="claude-opus-4-1",
        max_turns=3,
        append_system_prompt="Open no pull request yourself.",
        disallowed_tools=(),
    )
    command = claude_command(spec, LIMITS)
    assert command[command.index("--max-turns") + 1] == "3"
    assert command[command.index("--model") + 1] == "claude-opus-4-1"
    assert command[-2:] == ["--append-system-prompt", "Open no pull request yourself."]
    assert not any(part.startswith("--disallowedTools") for part in command)


def test_without_a_configured_model_the_cli_chooses_its_default() -> None:
    """No model in the job or the settings means no --model flag at all."""
    assert "--model" not in claude_command(SPEC, replace(LIMITS, model=""))


def test_container_names_are_docker_safe() -> None:
    """Job ids with characters Docker refuses in names still give a valid, recognisable name."""
    assert container_name("acme/widgets#12 fix") == "fixwright-job-acme-widgets-12-fix"
