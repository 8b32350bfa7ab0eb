"""The fix loop end to end: a label on an issue becomes a draft PR, on real parts.

Also the helpers the other `test_fix_loop_*` modules share: deliveries shaped like GitHub's, and
readers of what the fake GitHub, the scripted model and the Docker engine saw.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import docker
import pytest

from handlers.common.progress import job_of_comment
from sandbox.container import JOB_LABEL
from tests.corpus import labeled_issue
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY, FakeGitHub
from tests.fakes.github.records import Comment
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

BRANCH = "fixwright/issue-1"
OLD_LINE = 'return "Hello " + name'
NEW_LINE = 'return f"Hello, {name}!"'
SUMMARY = "greet() now puts a comma after Hello and ends with an exclamation mark."
FIX = Scenario.fix_file("/workspace/hello/greet.py", OLD_LINE, NEW_LINE, summary=SUMMARY)
JOB_TIMEOUT = 120
LABELS = itertools.count()


# Helpers shared by the fix loop's test modules.


def label_delivery(
    fake_github: FakeGitHub, number: int = 1, *, sender: str = MAINTAINER
) -> dict[str, Any]:
    """`issues.labeled` for issue `number` as the fake holds it, labeled just now by `sender`."""
    issue = fake_github.state.issues[(REPOSITORY, number)]
    payload = labeled_issue(REPOSITORY, INSTALLATION_ID, number, sender=sender)
    # Each label is a later event than the last: the same body twice would be a replay.
    labelled_at = datetime.now(UTC) + timedelta(seconds=next(LABELS))
    payload["issue"].update(
        title=issue.title,
        body=issue.body,
        updated_at=labelled_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    payload["issue"]["user"] = {**payload["issue"]["user"], "login": issue.user}
    return payload


def finished_jobs(service: ServiceProcess) -> list[dict[str, Any]]:
    """The service's `job.finished` log lines, oldest first."""
    return [line for line in service.log_lines() if line["event"] == "job.finished"]


def wait_for_jobs(service: ServiceProcess, count: int = 1) -> list[dict[str, Any]]:
    """The first `count` finished jobs, once that many have finished."""
    return wait_for(lambda: finished_jobs(service)[count - 1 :] and finished_jobs(service), 120)[
        :count
    ]


def progress_comments(fake_github: FakeGitHub, number: int = 1) -> list[Comment]:
    """fixwright's progress comments on issue `number`, oldest first."""
    return [
        c
        for c in fake_github.state.issue_comments(REPOSITORY, number)
        if job_of_comment(c.body) is not None
    ]


def changed_lines(diff: str) -> list[str]:
    """The lines a unified diff removes (`-`) and adds (`+`), without the file headers."""
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def prompt_of(fake_model: Any) -> str:
    """The text of the first user message of the agent's first turn: the prompt it was given."""
    first = fake_model.api.scenario_requests[0].body["messages"][0]
    content = first["content"]
    if isinstance(content, str):
        return content
    return "\n".join(block.get("text", "") for block in content if isinstance(block, dict))


def sandbox_containers(docker_client: docker.DockerClient, job_id: str) -> list[Any]:
    """The containers (running or not) the engine still holds for a job."""
    return docker_client.containers.list(all=True, filters={"label": f"{JOB_LABEL}={job_id}"})


def bot_email(fake_github: FakeGitHub, login: str) -> str:
    return f"{fake_github.state.user(login).id}+{login}@users.noreply.github.com"


def bare_path(fake_github: FakeGitHub) -> Any:
    return fake_github.state.repositories[REPOSITORY].path


# The tests.


def test_a_maintainers_label_becomes_a_draft_pull_request(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """The scripted fix lands on fixwright/issue-1 as a draft PR, with 👀, progress and check run."""
    fake_model.set_scenario(FIX)
    state = fake_github.state
    main_sha = gitrepo.branch_sha(bare_path(fake_github), "main")

    agent_service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(agent_service)

    assert job["state"] == "succeeded", job
    assert changed_lines(state.branch_diff(REPOSITORY, BRANCH)) == [
        f"-    {OLD_LINE}",
        f"+    {NEW_LINE}",
    ]
    [pull] = state.pulls.values()
    pr_issue = state.issues[(REPOSITORY, pull.number)]
    assert (pull.draft, pull.head, pull.base) == (True, BRANCH, "main")
    assert pr_issue.title == "Fix #1: greet() forgets the comma"
    assert "Fixes #1" in pr_issue.body and SUMMARY in pr_issue.body
    assert "`hello/greet.py`" in pr_issue.body and "3 turns" in pr_issue.body

    [reaction] = state.reactions
    assert (reaction.subject, reaction.subject_id, reaction.content) == ("issue", 1, "eyes")

    [comment] = state.issue_comments(REPOSITORY, 1)
    assert comment.user == state.bot_login and job_of_comment(comment.body)
    assert "opened a draft pull request" in comment.body
    assert f"[#{pull.number}]({fake_github.url}/{REPOSITORY}/pull/{pull.number})" in comment.body
    assert "- [ ]" not in comment.body and SUMMARY in comment.body
    footer = re.search(
        r"🤖 `(?P<model>[^`]+)` · (?P<turns>\d+) turns · tokens: (.+) · \$", comment.body
    )
    assert footer and footer["model"] != "default" and footer["turns"] == "3", comment.body
    assert "300 in · 60 out" in comment.body  # three answers of 100 in / 20 out each

    [check] = state.check_runs.values()
    assert (check.name, check.head_sha, check.status, check.conclusion) == (
        "fixwright",
        main_sha,
        "completed",
        "success",
    )
    assert f"#{pull.number}" in str(check.output["title"])

    author = gitrepo.commit_author(bare_path(fake_github), f"refs/heads/{BRANCH}")
    assert author == (state.bot_login, bot_email(fake_github, state.bot_login))
    message = gitrepo.commit_message(bare_path(fake_github), f"refs/heads/{BRANCH}")
    assert message.startswith("Fix #1: greet() forgets the comma")
    assert f"Co-authored-by: {MAINTAINER} <{bot_email(fake_github, MAINTAINER)}>" in message

    assert "greet() forgets the comma" in prompt_of(fake_model)
    assert any(OLD_LINE in result for result in fake_model.tool_results)
    print(comment.body, pr_issue.body, sep="\n----\n")


def test_a_server_killed_mid_run_leaves_no_container_and_one_pull_request(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    docker_client: docker.DockerClient,
) -> None:
    """SIGKILL while Claude works: on restart the orphan container goes and the retry opens one PR."""
    slow_fix = Scenario([Scenario.run("sleep 4", "Wait for the build"), *FIX.steps])
    fake_model.set_scenario(slow_fix)
    service = agent_service_process.start()
    response = service.post("issues", label_delivery(fake_github))
    [job_id] = response.json()["jobs"]
    wait_for(lambda: fake_model.api.scenario_requests, JOB_TIMEOUT)
    wait_for(lambda: sandbox_containers(docker_client, job_id))
    service.kill()
    [orphan] = sandbox_containers(docker_client, job_id)

    service.start()
    [job] = wait_for_jobs(service)

    assert job["state"] == "succeeded", job
    assert job["attempt"] == 2
    assert sandbox_containers(docker_client, job_id) == []
    assert orphan.id not in {c.id for c in docker_client.containers.list(all=True)}
    assert len(fake_github.state.pulls) == 1
    [comment] = progress_comments(fake_github)
    assert job_of_comment(comment.body) == job_id and "opened a draft pull request" in comment.body
    assert len(fake_github.state.check_runs) == 1
    # Removed by the start-up sweep, or by the retry itself before it starts its own container.
    removals = {"sandbox.orphans_removed", "sandbox.leftover_removed"}
    assert any(line["event"] in removals for line in service.log_lines())
