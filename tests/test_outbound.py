"""Nothing secret reaches GitHub: every JSON body fixwright sends is redacted on the way out."""

from __future__ import annotations

import json

import httpx

from app.github_app import GitHubApp
from app.outbound import RedactingTransport
from handlers.common.check_runs import CheckRun
from handlers.fix.pull_requests import open_or_update_draft_pr
from sandbox.redaction import REDACTED
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, WEBHOOK_SECRET, FakeGitHub

MODEL_KEY = "sk-ant-api03-" + "Q" * 40
LEAKED_TOKEN = "ghs_" + "Z" * 36
CONFIGURED_SECRET = "relay-canary-0a8f3c"
JOB_PERMISSIONS = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "checks": "write",
}
PLANTED = f"env says ANTHROPIC_API_KEY={MODEL_KEY} GH_TOKEN={LEAKED_TOKEN} X={CONFIGURED_SECRET}"


def recording_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    """An httpx transport that keeps each request it is handed and answers 200 {}."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    return httpx.MockTransport(handle)


async def send(transport: httpx.AsyncBaseTransport, **request: object) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://github.test") as client:
        await client.post("/repos/o/r/issues/1/comments", **request)  # type: ignore[arg-type]


async def test_every_string_in_a_json_body_is_redacted() -> None:
    """Secrets and token shapes are replaced at any depth of the JSON body, field names kept."""
    seen: list[httpx.Request] = []
    transport = RedactingTransport(recording_transport(seen), [CONFIGURED_SECRET])
    body = {"body": PLANTED, "output": {"summary": [PLANTED], "title": "ok"}, "count": 3}
    await send(transport, json=body)
    sent = json.loads(seen[0].content)
    assert sent["output"]["title"] == "ok" and sent["count"] == 3
    for text in (sent["body"], sent["output"]["summary"][0]):
        assert MODEL_KEY not in text and LEAKED_TOKEN not in text
        assert CONFIGURED_SECRET not in text
        assert text.count(REDACTED) == 3
    assert seen[0].headers["content-length"] == str(len(seen[0].content))


async def test_a_clean_body_is_sent_byte_for_byte() -> None:
    """A body without secrets is forwarded unchanged, so redaction never alters ordinary requests."""
    seen: list[httpx.Request] = []
    raw = b'{"body":"Fixed in #3 \\u2014 thanks",  "draft": true}'
    transport = RedactingTransport(recording_transport(seen), [CONFIGURED_SECRET])
    await send(transport, content=raw, headers={"content-type": "application/json"})
    assert seen[0].content == raw


async def test_a_body_that_is_not_json_is_left_alone() -> None:
    """Only JSON bodies are rewritten: other content types pass through as they are."""
    seen: list[httpx.Request] = []
    transport = RedactingTransport(recording_transport(seen), [CONFIGURED_SECRET])
    await send(transport, content=b"plain", headers={"content-type": "text/plain"})
    assert seen[0].content == b"plain"


async def test_comment_pr_body_and_check_run_reach_github_redacted(fake_github: FakeGitHub) -> None:
    """A comment, a PR body and a check-run summary carrying planted secrets reach GitHub redacted."""
    state = fake_github.state
    settings = fake_github.settings(anthropic_api_key=CONFIGURED_SECRET)
    sha = state.push_branch(REPOSITORY, "fixwright/issue-1", {"hello/greet.py": "x = 1\n"})
    owner, name = REPOSITORY.split("/")
    app = GitHubApp(settings)
    async with app.for_job(INSTALLATION_ID, REPOSITORY, JOB_PERMISSIONS) as github:
        await github.rest.issues.async_create_comment(
            owner, name, 1, body=f"{PLANTED} and {WEBHOOK_SECRET}"
        )
        await open_or_update_draft_pr(
            github,
            REPOSITORY,
            head_branch="fixwright/issue-1",
            base_branch="main",
            title="Fix #1",
            body=PLANTED,
        )
        check = await CheckRun.start(github, REPOSITORY, head_sha=sha, job_id="job-1")
        await check.complete("success", "Draft pull request", PLANTED)

    [comment] = state.issue_comments(REPOSITORY, 1)
    [pull] = state.pulls.values()
    [run] = state.check_runs.values()
    texts = [comment.body, state.issues[(REPOSITORY, pull.number)].body, run.output["summary"]]
    for text in texts:
        assert isinstance(text, str) and REDACTED in text
        for secret in (MODEL_KEY, LEAKED_TOKEN, CONFIGURED_SECRET, WEBHOOK_SECRET):
            assert secret not in text
    assert "env says ANTHROPIC_API_KEY=" in comment.body  # the rest of the text is kept
