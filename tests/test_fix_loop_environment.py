"""The fix loop in the repository's own environment, end to end: the service prepares it behind
the job's proxy, the real CLI runs the repository's tests with what the set-up installed, and a
second job starts from the cached environment."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.fakes.github.fixtures import REPOSITORY, WEBHOOK_SECRET, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.environments import MARKER, PackageIndex
from tests.fixtures.service import ServiceProcess
from tests.test_environments import install_pytest
from tests.test_fix_loop import BRANCH, NEW_LINE, OLD_LINE, label_delivery, wait_for_jobs
from tests.test_fix_loop_trust import assert_no_secret_on_github

pytestmark = pytest.mark.docker

# Bytecode and pytest's cache would land in the checkout: the run keeps it clean.
TESTS = "python3 -B -m pytest -q -p no:cacheprovider tests/test_greet.py"


def environment_file(index: PackageIndex, sandbox_image: str) -> str:
    """The environment (pytest installed through the proxy) and the tests the host runs in it."""
    commands = "".join(f"    - {command!r}\n" for command in install_pytest(index))
    return (
        f"environment:\n  image: {sandbox_image}\n  setup:\n{commands}verify:\n  command: {TESTS}\n"
    )


def scenario() -> Scenario:
    return Scenario(
        [
            # What the set-up's environment held (it saved it in the image), and the agent's own.
            Scenario.run("cat $HOME/setup-environment.txt; echo ----; env"),
            Scenario.run(TESTS),
            Scenario.edit_file("/workspace/hello/greet.py", OLD_LINE, NEW_LINE),
            Scenario.run(TESTS),
            Scenario.say("greet() puts the comma back; the test passes."),
        ]
    )


def tool_results(fake_model: Any) -> list[str]:
    """The text of every tool result the model was sent, in order."""
    texts = []
    for request in fake_model.api.scenario_requests:
        for message in request.body["messages"]:
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    inner = block.get("content")
                    texts.append(inner if isinstance(inner, str) else repr(inner))
    return texts


def environment_lines(service: ServiceProcess) -> list[dict[str, Any]]:
    return [line for line in service.log_lines() if line["event"] == "environment.ready"]


def test_a_fix_runs_the_repositorys_tests_in_its_prepared_environment(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    egress_image: str,
    sandbox_image: str,
    package_index: PackageIndex,
) -> None:
    """Set-up installs pytest through the proxy; the agent runs it; the host's own runs show the
    test failing before the fix and passing after; the next job is cached. The service's model
    key, a canary, reaches neither the set-up, the agent, GitHub nor the logs."""
    canary = "fixwright-canary-" + secrets.token_hex(20)
    fake_model.api.api_key = canary
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {".github/fixwright.yml": environment_file(package_index, sandbox_image)},
    )
    service = agent_service_process.start(
        FIXWRIGHT_EGRESS_IMAGE=egress_image,
        FIXWRIGHT_EGRESS_ALLOWLIST=package_index.host,
        FIXWRIGHT_ANTHROPIC_API_KEY=canary,
    )
    fake_model.set_scenario(scenario())
    service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(service)

    assert job["state"] == "succeeded", job
    results = tool_results(fake_model)
    environments = results[0]
    assert "PATH=" in environments.split("----")[0] and "HOME=" in environments.split("----")[1]
    assert canary not in environments
    assert any("1 failed" in text for text in results), results
    assert any("1 passed" in text for text in results), results
    assert fake_github.state.branch_files(REPOSITORY, BRANCH)["hello/greet.py"].count(NEW_LINE)
    [pull] = fake_github.state.pulls.values()
    body = fake_github.state.issues[(REPOSITORY, pull.number)].body or ""
    assert "✅ **The tests pass after the change.** 1 failed → 1 passed" in body, body
    [prepared] = environment_lines(service)
    assert prepared["cached"] is False and prepared["refused"] == []

    fake_model.set_scenario(scenario())
    service.post("issues", label_delivery(fake_github))
    wait_for_jobs(service, 2)
    assert [line["cached"] for line in environment_lines(service)] == [False, True]
    assert_no_secret_on_github(fake_github, canary, WEBHOOK_SECRET)
    assert canary not in service.logs() and WEBHOOK_SECRET not in service.logs()


def test_a_devcontainer_repository_is_prepared_from_its_own_dockerfile(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    egress_image: str,
    sandbox_image: str,
    package_index: PackageIndex,
) -> None:
    """`.devcontainer/devcontainer.json` names a Dockerfile on a local image; its `RUN` step and
    the `postCreateCommand` fetch through the proxy, and the agent finds both results."""
    dockerfile = (
        f"FROM {sandbox_image}\nUSER root\n"
        f"RUN curl -fsS {package_index.url}/{MARKER} -o /opt/from-the-build\nUSER agent\n"
    )
    devcontainer = (
        "{\n  // the project's development container\n"
        '  "build": {"dockerfile": "Dockerfile"},\n'
        f'  "postCreateCommand": "curl -fsS {package_index.url}/{MARKER} -o $HOME/from-set-up",\n'
        "}\n"
    )
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {".devcontainer/devcontainer.json": devcontainer, ".devcontainer/Dockerfile": dockerfile},
    )
    service = agent_service_process.start(
        FIXWRIGHT_EGRESS_IMAGE=egress_image, FIXWRIGHT_EGRESS_ALLOWLIST=package_index.host
    )
    fake_model.set_scenario(
        Scenario([Scenario.run("cat /opt/from-the-build $HOME/from-set-up"), Scenario.say("Seen.")])
    )
    service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(service)

    assert job["state"] == "succeeded", job
    [prepared] = environment_lines(service)
    assert prepared["described_in"] == ".devcontainer/devcontainer.json"
    [result] = [text for text in tool_results(fake_model) if "fetched" in text]
    assert result.count("fetched through the proxy") == 2
