"""`/review` end to end: the real CLI in the real sandbox reviews a PR served by the fake GitHub."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest

from app.config import Settings
from app.github_app import GitHubApp
from handlers import review
from sandbox.git_command import git_authorization
from tests.corpus import comment_on
from tests.fakes.github import gitrepo, pull_heads
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


def test_a_second_review_after_a_new_commit_posts_only_new_findings(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """Re-running `/review` skips a finding already posted on an unchanged line and says what is new."""
    state = fake_github.state
    number = open_feature_pull(state)
    fake_model.set_scenario(review_scenario(UNDEFINED))
    assert request_review(agent_service, state, number)["state"] == "succeeded"
    state.push_branch(
        REPOSITORY, "feature", {"hello/extra.py": "def add(a, b):\n    return a - b\n"}
    )
    wrong_sum = {
        "path": "hello/extra.py",
        "line": 2,
        "side": "RIGHT",
        "severity": "critical",
        "title": "add() subtracts",
        "body": "`a - b` should be `a + b`.",
        "suggestion": "    return a + b",
    }
    fake_model.set_scenario(review_scenario(UNDEFINED, wrong_sum))
    assert request_review(agent_service, state, number, runs=2)["state"] == "succeeded"
    first, second = state.pull_reviews(REPOSITORY, number)
    assert [c["path"] for c in first.comments] == ["hello/greet.py"]
    assert [(c["path"], c["line"]) for c in second.comments] == [("hello/extra.py", 2)]
    assert "**1 new** inline comment" in second.body
    assert "1 already posted by an earlier review and not repeated" in second.body


def test_malformed_findings_are_retried_once_then_reported(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """An answer without a valid findings block gets one retry naming the problem, then a clear failure comment."""
    state = fake_github.state
    number = open_feature_pull(state)
    fake_model.set_scenario(Scenario([Scenario.say("Looks fine to me, no JSON here.")]))
    job = request_review(agent_service, state, number)
    assert job["state"] == "failed"
    first_prompts = [  # the opening request of each run: no assistant turn yet
        r.body["messages"]
        for r in fake_model.requests
        if r.body.get("tools") and all(m["role"] != "assistant" for m in r.body["messages"])
    ]
    assert len(first_prompts) == 2
    assert "could not be used: the answer does not end with a ```json block" in json.dumps(
        first_prompts[1]
    )
    [comment] = [c for c in state.issue_comments(REPOSITORY, number) if c.user == state.bot_login]
    assert "did not hold its findings in the expected form, twice" in comment.body
    assert "Comment `/review` to try again" in comment.body
    assert state.pull_reviews(REPOSITORY, number) == []
    [check] = state.check_runs.values()
    assert check.conclusion == "neutral"


def test_a_pull_request_from_a_fork_is_reviewed_from_refs_pull_head(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """A fork's PR is checked out through the base repository's `refs/pull/N/head` and reviewed inline."""
    state = fake_github.state
    fork = pull_heads.fork(state, REPOSITORY, "contributor")
    state.push_branch(fork.full_name, "patch-1", FEATURE_FILES, message="Add farewell")
    number = pull_heads.open_fork_pull_request(
        state, REPOSITORY, fork.full_name, "patch-1", "Say goodbye", "From a fork."
    ).number
    fake_model.set_scenario(review_scenario(UNDEFINED))
    assert request_review(agent_service, state, number)["state"] == "succeeded"
    review = one_review(state, number)
    assert [(c["path"], c["line"]) for c in review.comments] == [("hello/greet.py", 10)]
    assert "farewell" in fake_model.tool_results[0]
    assert "(from a fork)" in json.dumps(fake_model.requests[-1].body)
    assert state.branches(REPOSITORY) == ["main"]


def recorded_commits(service: ServiceProcess, job_id: str) -> list[dict[str, Any]]:
    """The `review.commit` entries of a job's event log, read from the service's store."""
    with closing(sqlite3.connect(f"file:{service.store_path}?mode=ro", uri=True)) as store:
        rows = store.execute(
            "SELECT data FROM job_events WHERE job_id = ? AND kind = 'review.commit'", (job_id,)
        ).fetchall()
    return [json.loads(data) for (data,) in rows]


LATE_GREET = GREET_V2.replace("+ nam\n", "+ name\n")


def test_a_push_after_the_job_started_changes_nothing_that_is_reviewed(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """A push landing right after the job read the PR: the diff, the checkout and the review's commit stay the recorded head."""
    state = fake_github.state
    number = open_feature_pull(state)
    recorded = gitrepo.branch_sha(state.repositories[REPOSITORY].path, "feature")
    late: list[str] = []

    def push_meanwhile() -> None:
        files = {"hello/greet.py": LATE_GREET, "hello/late.py": "LATE = True\n"}
        late.append(state.push_branch(REPOSITORY, "feature", files, message="Late push"))

    state.after_answer("GET", f"/repos/{REPOSITORY}/pulls/{number}", push_meanwhile)
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.read("/workspace/hello/greet.py"),
                Scenario.read("/workspace/hello/late.py"),
                Scenario.say(answer(UNDEFINED)),
            ]
        )
    )
    job = request_review(agent_service, state, number)
    assert job["state"] == "succeeded", job
    assert late and late[0] != recorded  # the push landed while the job ran
    review = one_review(state, number)
    assert review.commit_id == recorded
    assert [(c["path"], c["line"]) for c in review.comments] == [("hello/greet.py", 10)]
    prompt = json.dumps(fake_model.api.scenario_requests[0].body["messages"][0])
    assert "hello/greet.py" in prompt and "late.py" not in prompt
    greet, missing = fake_model.tool_result_blocks[:2]
    assert '"Bye " + nam\n' in greet.content and '"Bye " + name' not in greet.content
    assert missing.is_error  # the late file is not in the checkout
    assert f"at `{recorded[:7]}`" in review.body
    [check] = state.check_runs.values()
    assert check.head_sha == recorded
    assert recorded_commits(agent_service, job["job_id"])[0]["head_sha"] == recorded


def test_a_review_goes_on_when_its_comment_was_deleted_before_the_reaction(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model
) -> None:
    """GitHub answers 404 to the 👀 on a deleted `/review` comment; the review is posted anyway and the log says why."""
    state = fake_github.state
    number = open_feature_pull(state)
    payload = review_comment(state, number, "/review")
    del state.comments[payload["comment"]["id"]]  # deleted before the job runs
    fake_model.set_scenario(review_scenario(UNDEFINED))
    assert agent_service.post("issue_comment", payload).status_code == 202
    job = wait_for(lambda: finished_jobs(agent_service)[:1], timeout=120)[0]
    assert job["state"] == "succeeded", job
    assert [(c["path"], c["line"]) for c in one_review(state, number).comments] == [
        ("hello/greet.py", 10)
    ]
    assert state.reactions == []
    [skipped] = [line for line in agent_service.log_lines() if line["event"] == "reaction.skipped"]
    assert skipped["status"] == 404
    assert "no longer exists" in skipped["reason"]
