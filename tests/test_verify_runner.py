"""The host's test runs on the real engine: a fresh hardened container on a host-made copy of a
tree, with no network, its output read, and nothing left behind."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from app.config import Settings
from app.sandbox_service import sandbox_limits
from sandbox.container import JOB_LABEL
from sandbox.test_output import TestCounts, TestStatus
from sandbox.verify_container import VerifySpec
from sandbox.verify_runner import run_verification
from tests.fixtures.sandbox import make_repository

pytestmark = pytest.mark.docker

FAILING = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "test_calc.py": (
        "import unittest\n\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
        "    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
    ),
}


def commit(repository: Path, files: dict[str, str]) -> str:
    """Commit `files` on top of the repository's head; the new commit's id."""
    for name, content in files.items():
        (repository / name).write_text(content)
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "-C", str(repository), "add", "--all"], check=True)
    subprocess.run(["git", "-C", str(repository), *identity, "commit", "-qm", "Change"], check=True)
    return subprocess.run(
        ["git", "-C", str(repository), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def spec_for(repository: Path, tree: str, command: str, **changes: object) -> VerifySpec:
    scratch = repository.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    spec = VerifySpec(
        job_id="verify-test",
        label="after",
        git_dir=repository / ".git",
        tree=tree,
        command=command,
        timeout_seconds=60,
        scratch=scratch,
    )
    return replace(spec, **changes)


async def test_the_tests_fail_before_the_fix_and_pass_after_it(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_settings: Settings
) -> None:
    """The same command on two commits: its exit codes and unittest's counts for each."""
    repository = make_repository(tmp_path / "repo", FAILING)
    fixed = commit(repository, {"calc.py": "def add(a, b):\n    return a + b\n"})
    limits = sandbox_limits(sandbox_settings)
    command = "python3 -m unittest -v"

    before = await run_verification(
        spec_for(repository, "HEAD~1", command, label="before"), limits, docker_client=docker_client
    )
    after = await run_verification(
        spec_for(repository, fixed, command), limits, docker_client=docker_client
    )

    assert (before.status, before.exit_code) == (TestStatus.FAILED, 1), before.tail
    assert before.counts == TestCounts(passed=1, failed=1)
    assert "AssertionError: -1 != 5" in before.tail
    assert (after.status, after.exit_code, after.counts) == (
        TestStatus.PASSED,
        0,
        TestCounts(passed=2),
    )
    assert list((tmp_path / "scratch").iterdir()) == []
    assert (
        docker_client.containers.list(all=True, filters={"label": f"{JOB_LABEL}=verify-test"}) == []
    )


async def test_the_container_has_no_network_no_secret_and_a_read_only_root(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_settings: Settings
) -> None:
    """Only loopback exists, the environment holds no key, and only the copy is writable."""
    repository = make_repository(tmp_path / "repo", {"README.md": "# x\n"})
    probe = (
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; env | sort; "
        "touch /usr/probe 2>/dev/null && echo root-writable; "
        "touch /workspace/probe && echo copy-writable; id -u"
    )
    run = await run_verification(
        spec_for(repository, "HEAD", probe),
        sandbox_limits(sandbox_settings),
        docker_client=docker_client,
        secrets=("unused-in-sandbox-tests",),
    )
    lines = run.tail.splitlines()
    assert run.status is TestStatus.PASSED, run.tail
    assert [line for line in lines if line in ("lo", "eth0")] == ["lo"]
    assert not any(line.startswith(("ANTHROPIC", "FIXWRIGHT", "GITHUB")) for line in lines)
    assert "root-writable" not in lines and "copy-writable" in lines
    assert lines[-1] == "1000"


async def test_a_run_past_its_time_is_stopped_and_a_missing_command_exits_127(
    tmp_path: Path, docker_client: docker.DockerClient, sandbox_settings: Settings
) -> None:
    """A hanging run ends at its limit as TIMED_OUT; a command the image lacks fails with 127."""
    repository = make_repository(tmp_path / "repo", {"README.md": "# x\n"})
    limits = sandbox_limits(sandbox_settings)
    hanging = await run_verification(
        spec_for(repository, "HEAD", "echo started; sleep 600", timeout_seconds=2),
        limits,
        docker_client=docker_client,
    )
    missing = await run_verification(
        spec_for(repository, "HEAD", "pytest -q"), limits, docker_client=docker_client
    )

    assert hanging.status is TestStatus.TIMED_OUT and "started" in hanging.tail
    assert (missing.status, missing.exit_code) == (TestStatus.FAILED, 127)
    assert "not found" in missing.tail
