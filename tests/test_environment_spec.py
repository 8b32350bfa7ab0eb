"""A prepared environment's identity, the tools layer, and the hardened set-up container."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sandbox.environment_spec import (
    EnvironmentSpec,
    SetupLimits,
    cache_key,
    setup_container_kwargs,
    setup_script,
    tools_dockerfile,
)

SPEC = EnvironmentSpec(
    base_image="python:3.12-slim",
    dockerfile=None,
    context_tar=None,
    setup=("pip install --user pytest",),
    key_material=(("requirements.txt", "a" * 40),),
    tools_image="fixwright-sandbox:latest",
    description=".github/fixwright.yml",
)
LIMITS = SetupLimits("1g", 1.0, 256, 600, "runc", "instance-1")


def test_the_cache_key_changes_with_what_the_environment_holds() -> None:
    """Base, set-up, key files and tools each change the key; where it was described does not."""
    key = cache_key(SPEC, "sha256:base", "sha256:tools")
    assert key == cache_key(replace(SPEC, description="elsewhere"), "sha256:base", "sha256:tools")
    assert key == cache_key(
        replace(SPEC, key_material=tuple(reversed(SPEC.key_material))),
        "sha256:base",
        "sha256:tools",
    )
    assert key != cache_key(SPEC, "sha256:other", "sha256:tools")
    assert key != cache_key(SPEC, "sha256:base", "sha256:newer-cli")
    assert key != cache_key(
        replace(SPEC, setup=("pip install --user pytest==8",)), "sha256:base", "sha256:tools"
    )
    assert key != cache_key(
        replace(SPEC, key_material=(("requirements.txt", "b" * 40),)), "sha256:base", "sha256:tools"
    )


def test_the_tools_layer_copies_and_runs_nothing() -> None:
    """Any image gets the CLI and the forwarder without a shell being needed to add them."""
    dockerfile = tools_dockerfile("sha256:base", "fixwright-sandbox:latest")
    assert dockerfile.startswith("FROM sha256:base\n")
    assert "RUN" not in dockerfile
    assert (
        "COPY --from=fixwright-sandbox:latest /usr/local/bin/claude "
        "/usr/local/bin/fixwright-forward /usr/local/bin/" in dockerfile
    )


def test_setup_stops_at_the_first_failing_command_and_says_which() -> None:
    """`set -e`, and each command announced on stderr before it runs."""
    script = setup_script(["pip install x", "echo 'done'"])
    assert script.splitlines()[0] == "set -e"
    assert "fixwright setup [2/2]: echo '\"'\"'done'\"'\"'" in script


def test_the_setup_container_is_hardened_and_sees_the_checkout_read_only() -> None:
    """No capability, no privilege gain, limits, the proxy's network, no secret in its environment."""
    kwargs = setup_container_kwargs(
        "sha256:tooled",
        ["pip install --user pytest"],
        job_id="job-7",
        network="fixwright-egress-setup-job-7",
        environment={"HTTPS_PROXY": "http://egress-proxy:8888"},
        checkout=Path("/srv/jobs/7/workspace"),
        limits=LIMITS,
    )
    assert kwargs["cap_drop"] == ["ALL"] and kwargs["security_opt"] == ["no-new-privileges"]
    assert kwargs["user"] == "1000:1000" and kwargs["network"] == "fixwright-egress-setup-job-7"
    assert kwargs["volumes"] == {"/srv/jobs/7/workspace": {"bind": "/workspace", "mode": "ro"}}
    assert kwargs["environment"] == {"HOME": "/home/agent"}
    assert "export HTTPS_PROXY=http://egress-proxy:8888\n" in kwargs["entrypoint"][2]
    assert (kwargs["mem_limit"], kwargs["pids_limit"], kwargs["nano_cpus"]) == ("1g", 256, 10**9)
    assert kwargs["labels"] == {
        "fixwright.job": "job-7",
        "fixwright.role": "setup",
        "fixwright.instance": "instance-1",
    }
