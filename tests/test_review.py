"""`/review` end to end: the real CLI in the real sandbox reviews a PR served by the fake GitHub."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest

from app.config import Settings
from app.github_app import GitHubApp
from handlers import review
from sandbox.git_command import git_authorization
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.github.records import Comment, Review
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

GREET_V2 = (
    '"""Build greetings."""\n\n\ndef greet(name: str) -> str:\n'
    '    """Greet `name` politely."""\n    return "Hello, " + name + "!"\n\n\n'
    'def farewell(name):\n    return "Bye " + nam\n'
)
FEATURE_FILES = {
    "hello/greet.py": GREET_V2,
    "package-lock.json": '{"lockfileVersion": 3}\n',
}
UNDEFINED = {
    "path": "hello/greet.py",
    "line": 10,
    "side": "RIGHT",
    "severity": "major",
    "title": "farewell() uses an undefined name",
    "body": "`nam` is not defined; calling `farewell` raises `NameError`.",
    "suggestion": '    return "Bye " + name',
}
UNTYPED = {
    "path": "hello/greet.py",
    "start_line": 9,
    "line": 10,
    "side": "RIGHT",
    "severity": "minor",
    "title": "farewell() has no type hints",
    "body": "The rest of the module is typed; `farewell` should be too.",
}
OLD_LINE = {
    "path": "hello/greet.py",
    "line": 6,
    "side": "LEFT",
    "severity": "nit",
    "title": "The old greeting had no comma",
    "body": "Good that this goes: it was the bug.",
}
OFF_DIFF = {
    "path": "README.md",
    "line": 3,
    "side": "RIGHT",
    "severity": "nit",
    "title": "README does not mention farewell()",
    "body": "Document the new function.",
}


def answer(*findings: dict[str, Any]) -> str:
    """A final answer as the review prompt asks for it: prose, then the findings block."""
    return "Reviewed the change.\n\n```json\n" + json.dumps(list(findings), indent=2) + "\n```"


def review_scenario(*findings: dict[str, Any]) -> Scenario:
    """Read the changed file from the checkout, then answer with `findings`."""
    return Scenario([Scenario.read("/workspace/hello/greet.py"), Scenario.say(answer(*findings))])


def open_feature_pull(state: Any) -> int:
    state.push_branch(REPOSITORY, "feature", FEATURE_FILES, message="Add farewell")
    return state.open_pull_request(REPOSITORY, "feature", "Say goodbye", "Adds farewell().").number


def finished_jobs(service: ServiceProcess) -> list[dict[str, Any]]:
    return [line for line in service.log_lines() if line["event"] == "job.finished"]


def review_comment(state: Any, number: int, body: str, sender: str = "octocat") -> dict:
    """An `issue_comment.created` delivery for a comment that also exists on the fake GitHub."""
    payload = comment_on(REPOSITORY, INSTALLATION_ID, number, body, pull=True, sender=sender)
    comment = Comment(state.next_id(), REPOSITORY, number, body, state.user(sender).login)
    state.comments[comment.id] = comment
    payload["comment"]["id"] = comment.id
    return payload


def request_review(
    service: ServiceProcess, state: Any, number: int, body: str = "/review", runs: int = 1
) -> dict:
    """Comment `body` on PR `number` and wait until the service has finished `runs` jobs."""
    response = service.post("issue_comment", review_comment(state, number, body))
    assert response.status_code == 202, response.text
    return wait_for(lambda: finished_jobs(service)[runs - 1 : runs], timeout=120)[0]


def one_review(state: Any, number: int) -> Review:
    [review] = state.pull_reviews(REPOSITORY, number)
    return review


@contextmanager
def sandbox_mounts(client: docker.DockerClient, store_url: str) -> Iterator[list[dict]]:
    """Collect the mounts of every sandbox container this service creates (read from the engine)."""
    instance = Settings(store_url=store_url).instance_id()
    events = client.events(
        decode=True,
        filters={"type": "container", "event": "create", "label": f"fixwright.instance={instance}"},
    )
    mounts: list[dict] = []

    def watch() -> None:
        for event in events:
            try:
                mounts.extend(client.api.inspect_container(event["id"])["Mounts"])
            except docker.errors.NotFound:
                continue

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield mounts
    finally:
        events.close()


def test_findings_land_on_the_right_lines_with_a_suggestion_and_the_rest_in_the_summary(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """Inline comments sit on the right path, line, side and range; off-diff findings and skipped files are in the summary."""
    state = fake_github.state
    number = open_feature_pull(state)
    fake_model.set_scenario(review_scenario(UNDEFINED, UNTYPED, OLD_LINE, OFF_DIFF))
    job = request_review(agent_service, state, number, "/review look at error handling")
    assert job["state"] == "succeeded", job
    review = one_review(state, number)
    assert review.state == "COMMENTED"
    placed = [(c["path"], c["line"], c["side"], c.get("start_line")) for c in review.comments]
    assert placed == [
        ("hello/greet.py", 10, "RIGHT", None),
        ("hello/greet.py", 10, "RIGHT", 9),
        ("hello/greet.py", 6, "LEFT", None),
    ]
    assert '```suggestion\n    return "Bye " + name\n```' in str(review.comments[0]["body"])
    assert "farewell() uses an undefined name" in str(review.comments[0]["body"])
    assert "<!-- fixwright:finding " in str(review.comments[0]["body"])
    body = review.body
    assert "README does not mention farewell()" in body and "`README.md` line 3" in body
    assert "`package-lock.json`: lock file" in body
    assert "🟠 1 major" in body and "🟡 1 minor" in body and "⚪ 2 nit" in body
    assert "look at error handling" in body
    assert "farewell" in fake_model.tool_results[0]  # Claude read the PR's head, not main
    [check] = state.check_runs.values()
    assert (check.name, check.status, check.conclusion) == (
        "fixwright review",
        "completed",
        "neutral",
    )
    assert [r.content for r in state.reactions] == ["eyes"]
    print("\n--- review body ---\n" + body)
    for comment in review.comments:
        print(f"--- {comment['path']}:{comment['line']} {comment['side']} ---\n{comment['body']}")


def test_the_workspace_is_read_only_and_the_review_token_cannot_push(
    agent_service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model,
    docker_client,
    tmp_path: Path,
) -> None:
    """The sandbox mounts the PR's head read-only, and a push with the review's token is refused by GitHub."""
    state = fake_github.state
    number = open_feature_pull(state)
    fake_model.set_scenario(review_scenario(UNDEFINED))
    with sandbox_mounts(docker_client, agent_service.env["FIXWRIGHT_STORE_URL"]) as mounts:
        job = request_review(agent_service, state, number)
    assert job["state"] == "succeeded", job
    [workspace] = [m for m in mounts if m["Destination"] == "/workspace"]
    assert workspace["RW"] is False
    job_tokens = [
        t for t in state.minted_tokens() if t.requested_permissions == review.KIND.permissions
    ]
    assert job_tokens and job_tokens[0].permissions["contents"] == "read"
    pushed = push_with_review_token(fake_github, tmp_path)
    assert pushed.returncode != 0
    assert "Permission to octo-org/hello.git denied" in pushed.stderr
    assert state.branches(REPOSITORY) == ["feature", "main"]


def push_with_review_token(
    fake_github: FakeGitHub, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Clone the repository and push a commit with a token minted with the review's permissions."""
    import asyncio

    token = asyncio.run(
        GitHubApp(fake_github.settings()).installation_token(
            INSTALLATION_ID, REPOSITORY, review.KIND.permissions
        )
    ).token
    header = ["-c", f"http.extraHeader=Authorization: {git_authorization(token)}"]
    work = tmp_path / "clone"
    subprocess.run(
        ["git", *header, "clone", "--quiet", fake_github.clone_url(), str(work)], check=True
    )
    (work / "pwned.txt").write_text("a review job must never push\n")
    identity = ["-c", "user.name=x", "-c", "user.email=x@example.invalid"]
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-qm", "push"], check=True)
    return subprocess.run(
        ["git", "-C", str(work), *header, "push", "origin", "HEAD:refs/heads/pwned"],
        capture_output=True,
        text=True,
        check=False,
    )
