"""A fix verified end to end, on real parts: the real CLI makes the scripted fix in the sandbox, then
the host runs the repository's tests in the real sandbox image, with no network, on the base
commit (where they fail) and on the fix (where they pass), and the PR shows both counts."""

from __future__ import annotations

import json
from typing import Any

import docker
import pytest

from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import (
    FIX,
    OLD_LINE,
    label_delivery,
    progress_comments,
    sandbox_containers,
    wait_for_jobs,
)

pytestmark = pytest.mark.docker

# The sandbox image has python3 but no pytest: the repository names unittest itself.
UNITTEST = (
    "import unittest\n\nfrom hello.greet import greet\n\n\n"
    "class GreetTest(unittest.TestCase):\n"
    "    def test_a_comma_after_hello(self):\n"
    '        self.assertEqual(greet("World"), "Hello, World!")\n\n'
    "    def test_it_starts_with_hello(self):\n"
    '        self.assertTrue(greet("x").startswith("Hello"))\n'
)
CONFIG = "verify:\n  command: python3 -m unittest -v\n  timeout: 120\n"
GREET = "/workspace/hello/greet.py"
# A change that does not add the comma: the test that wants it still fails.
MISSED = 'return "Hello " + name.strip()'


def test_the_pr_shows_the_tests_failing_before_the_fix_and_passing_after_it(
    agent_service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: docker.DockerClient,
) -> None:
    """1 failed, 1 passed on the default branch; 2 passed on the fix: said in the PR body, the
    check run and the progress comment, and no container is left."""
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {".github/fixwright.yml": CONFIG, "test_greet_unittest.py": UNITTEST},
        "Tests with unittest",
    )
    fake_model.set_scenario(FIX)

    agent_service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(agent_service)

    assert job["state"] == "succeeded", job
    state = fake_github.state
    [pull] = state.pulls.values()
    issue = state.issues[(REPOSITORY, pull.number)]
    body = issue.body or ""
    assert issue.title == "Fix #1: greet() forgets the comma"
    assert "✅ **The tests pass after the change.** 1 failed, 1 passed → 2 passed" in body, body
    assert "`python3 -m unittest -v` (set in `.github/fixwright.yml`)" in body
    assert "**Before the change:** 1 failed, 1 passed (exit code 1," in body
    assert "**After the change:** 2 passed (exit code 0," in body
    [check] = state.check_runs.values()
    assert (check.conclusion, check.output["title"]) == (
        "success",
        f"Draft pull request #{pull.number}: tests pass",
    )
    [progress] = progress_comments(fake_github)
    assert "Running the tests (`python3 -m unittest -v`: 1 failed, 1 passed → 2 passed)" in (
        progress.body
    )
    verified = [line for line in agent_service.log_lines() if line["event"] == "fix.verified"]
    assert [(line["result"], line["tests"]) for line in verified] == [
        ("passed", "1 failed, 1 passed → 2 passed")
    ]
    assert sandbox_containers(docker_client, job["job_id"]) == []
    print(body, str(check.output["summary"]), sep="\n----\n")


def test_a_change_that_leaves_the_tests_failing_gets_a_repair_round_then_says_so(
    agent_service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: docker.DockerClient,
) -> None:
    """The scripted change misses the comma; the host's run shows the test still failing, the
    real CLI gets one repair round with the failing output, and the PR's title, body and check
    run say the tests still fail (fixwright never claims a fix its own run contradicts)."""
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {
            ".github/fixwright.yml": CONFIG + "  max_rounds: 1\n",
            "test_greet_unittest.py": UNITTEST,
        },
        "Tests with unittest",
    )
    fake_model.set_scenario(Scenario.fix_file(GREET, OLD_LINE, MISSED, summary="Tidied greet()."))

    agent_service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(agent_service)

    assert job["state"] == "succeeded", job
    repair = [
        request
        for request in fake_model.requests
        if "Repair round 1 of 1." in json.dumps(request.body)
    ]
    assert repair, "the repair round's prompt never reached the model"
    assert "1 failed, 1 passed" in json.dumps(repair[0].body)
    state = fake_github.state
    [pull] = state.pulls.values()
    issue = state.issues[(REPOSITORY, pull.number)]
    body = issue.body or ""
    assert issue.title.startswith("[tests failing] Fix #1:"), issue.title
    assert "❌ **The tests still fail after the change.**" in body, body
    assert "**After the change and 1 repair round:** 1 failed, 1 passed" in body, body
    [check] = state.check_runs.values()
    assert check.conclusion != "success"
    assert "tests failing" in check.output["title"]
    assert sandbox_containers(docker_client, job["job_id"]) == []
