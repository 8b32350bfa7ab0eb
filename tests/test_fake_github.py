"""The fake GitHub is faithful: it authenticates like GitHub and its answers parse as GitHub's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import RequestFailed
from githubkit_schemas.latest.models import ContentFile

from tests.fakes.github.fixtures import FakeGitHub, generate_private_key
from tests.fakes.github.webhooks import delivery_headers, sign

REPO = "octo-org/hello"
ALL_WRITE = {"contents": "write", "issues": "write", "pull_requests": "write", "checks": "write"}


def make_jwt(private_key: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iat": now - 60, "exp": now + 540, "iss": "4242", **claims}
    payload = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
    return jwt.api_jws.encode(payload, private_key, "RS256")  # allows an integer `iss`


def mint(fake: FakeGitHub, status: int = 201, **body: Any) -> dict[str, Any]:
    """POST the access_tokens endpoint as the App; return the JSON answer."""
    response = httpx.post(
        f"{fake.url}/app/installations/1001/access_tokens",
        headers={"Authorization": f"Bearer {make_jwt(fake.private_key)}"},
        json=body,
    )
    assert response.status_code == status, response.text
    return response.json()


def client(fake: FakeGitHub, token: str) -> GitHub:
    return GitHub(TokenAuthStrategy(token), base_url=fake.url, http_cache=False, auto_retry=False)


def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}
    command = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


# App authentication


def test_a_valid_app_jwt_reads_the_app(fake_github: FakeGitHub) -> None:
    """A JWT signed with the App's key and issued by its id is accepted on GET /app."""
    response = httpx.get(
        f"{fake_github.url}/app",
        headers={"Authorization": f"Bearer {make_jwt(fake_github.private_key)}"},
    )
    assert response.status_code == 200
    assert response.json()["id"] == 4242


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong key", "A JSON web token could not be decoded"),
        ("expired", "'Expiration time' claim ('exp') must be a numeric value"),
        ("issued in the future", "'Issued at' claim ('iat') must be an Integer"),
        ("lives over ten minutes", "'Expiration time' claim ('exp') is too far in the future"),
        ("no exp", "'Expiration time' claim ('exp') must be a numeric value"),
        ("another app", "Integration not found"),
        ("missing", "Requires authentication"),
        ("not a jwt", "A JSON web token could not be decoded"),
    ],
)
def test_bad_app_jwts_are_refused(fake_github: FakeGitHub, case: str, expected: str) -> None:
    """Each kind of bad App JWT gets GitHub's 401 with its JSON error shape."""
    now = int(time.time())
    key = fake_github.private_key
    tokens = {
        "wrong key": make_jwt(generate_private_key()),
        "expired": make_jwt(key, iat=now - 700, exp=now - 100),
        "issued in the future": make_jwt(key, iat=now + 120, exp=now + 500),
        "lives over ten minutes": make_jwt(key, iat=now - 60, exp=now + 600),
        "no exp": make_jwt(key, exp=None),
        "another app": make_jwt(key, iss="9999"),
        "missing": None,
        "not a jwt": "hello",
    }
    token = tokens[case]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{fake_github.url}/app/installations/1001/access_tokens", headers=headers
    )
    assert response.status_code == 401
    assert response.json()["message"].startswith(expected)
    assert "documentation_url" in response.json()
    assert fake_github.state.minted_tokens() == []


def test_a_jwt_issued_within_clock_skew_is_accepted(fake_github: FakeGitHub) -> None:
    """An `iat` up to a minute ahead (clock drift) and an integer `iss` are still accepted."""
    now = int(time.time())
    token = make_jwt(fake_github.private_key, iat=now + 30, exp=now + 500, iss=4242)
    response = httpx.get(f"{fake_github.url}/app", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


# installation tokens


def test_a_token_is_minted_with_the_scope_asked_for(fake_github: FakeGitHub) -> None:
    """The token answer has GitHub's shape, and the fake records the scope the App asked for."""
    body = mint(fake_github, repositories=["hello"], permissions={"issues": "write"})
    assert body["token"].startswith("ghs_")
    assert len(body["token"]) == 40
    assert body["permissions"] == {"metadata": "read", "issues": "write"}
    assert [r["full_name"] for r in body["repositories"]] == [REPO]
    assert body["repository_selection"] == "selected"
    (recorded,) = fake_github.state.minted_tokens()
    assert recorded.requested_repositories == (REPO,)
    assert recorded.requested_permissions == {"issues": "write"}


def test_tokens_cannot_exceed_the_installation(fake_github: FakeGitHub) -> None:
    """Asking for a permission or repository the installation lacks gets GitHub's 422."""
    answer = mint(fake_github, 422, permissions={"workflows": "write"})
    assert answer["message"] == "The permissions requested are not granted to this installation."
    fake_github.state.installations[1001].permissions["contents"] = "read"
    mint(fake_github, 422, permissions={"contents": "write"})
    answer = mint(fake_github, 422, repositories=["elsewhere"])
    assert "not accessible to the parent installation" in answer["message"]
    response = httpx.post(
        f"{fake_github.url}/app/installations/555/access_tokens",
        headers={"Authorization": f"Bearer {make_jwt(fake_github.private_key)}"},
    )
    assert response.status_code == 404


async def test_a_revoked_token_gets_bad_credentials(fake_github: FakeGitHub) -> None:
    """After DELETE /installation/token the token is refused with 401 Bad credentials."""
    gh = client(fake_github, mint(fake_github)["token"])
    assert (await gh.rest.repos.async_get("octo-org", "hello")).parsed_data.full_name == REPO
    await gh.rest.apps.async_revoke_installation_access_token()
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.repos.async_get("octo-org", "hello")
    assert refused.value.response.status_code == 401
    assert refused.value.response.json()["message"] == "Bad credentials"


async def test_an_expired_token_is_refused(fake_github: FakeGitHub) -> None:
    """A token past its `expires_at` no longer works."""
    fake_github.state.token_lifetime = fake_github.state.token_lifetime * 0
    gh = client(fake_github, mint(fake_github)["token"])
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.repos.async_get("octo-org", "hello")
    assert refused.value.response.status_code == 401


async def test_a_token_only_reaches_its_repositories(fake_github: FakeGitHub) -> None:
    """A token scoped to one repository gets 404 for another one of the same installation."""
    fake_github.state.add_repository("octo-org", "other", {"a.txt": "a\n"})
    fake_github.state.installations[1001].repositories.append("octo-org/other")
    gh = client(fake_github, mint(fake_github, repositories=["hello"])["token"])
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.repos.async_get("octo-org", "other")
    assert refused.value.response.status_code == 404
    wide = client(fake_github, mint(fake_github)["token"])
    assert (await wide.rest.repos.async_get("octo-org", "other")).parsed_data.name == "other"


async def test_a_token_without_the_permission_is_forbidden(fake_github: FakeGitHub) -> None:
    """Commenting with a token that has only `issues: read` gets GitHub's 403."""
    gh = client(fake_github, mint(fake_github, permissions={"issues": "read"})["token"])
    assert (await gh.rest.issues.async_get("octo-org", "hello", 1)).parsed_data.number == 1
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="hi")
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["message"] == "Resource not accessible by integration"
    assert fake_github.state.comments == {}


# REST endpoints, through githubkit's models


async def test_app_endpoints_parse_with_githubkit(fake_github: FakeGitHub) -> None:
    """GET /app, the installation and the repository's installation parse as githubkit models."""
    token = make_jwt(fake_github.private_key)
    gh = GitHub(TokenAuthStrategy(token), base_url=fake_github.url, http_cache=False)
    gh.auth = TokenAuthStrategy(token)
    headers = {"Authorization": f"Bearer {token}"}
    app = (await gh.rest.apps.async_get_authenticated(headers=headers)).parsed_data
    assert app is not None
    assert app.slug == "fixwright"
    installation = (await gh.rest.apps.async_get_installation(1001, headers=headers)).parsed_data
    assert installation.account is not None
    assert installation.permissions.contents == "write"
    found = await gh.rest.apps.async_get_repo_installation("octo-org", "hello", headers=headers)
    assert found.parsed_data.id == 1001


async def test_issue_endpoints_parse_and_change_state(fake_github: FakeGitHub) -> None:
    """Issues, comments, reactions, labels and permissions parse and land in the state."""
    state = fake_github.state
    gh = client(fake_github, mint(fake_github, permissions=ALL_WRITE)["token"])
    assert (await gh.rest.repos.async_get("octo-org", "hello")).parsed_data.default_branch == "main"
    issue = (await gh.rest.issues.async_get("octo-org", "hello", 1)).parsed_data
    assert issue.title == "greet() forgets the comma"
    assert issue.user is not None
    comment = (
        await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="Working on it")
    ).parsed_data
    assert comment.user is not None
    assert comment.user.login == "fixwright[bot]"
    await gh.rest.issues.async_update_comment("octo-org", "hello", comment.id, body="Done")
    fetched = (await gh.rest.issues.async_get_comment("octo-org", "hello", comment.id)).parsed_data
    assert fetched.body == "Done"
    listed = (await gh.rest.issues.async_list_comments("octo-org", "hello", 1)).parsed_data
    assert [c.body for c in listed] == ["Done"]
    reaction = await gh.rest.reactions.async_create_for_issue(
        "octo-org", "hello", 1, content="eyes"
    )
    assert reaction.parsed_data.content == "eyes"
    await gh.rest.reactions.async_create_for_issue_comment(
        "octo-org", "hello", comment.id, content="rocket"
    )
    labels = await gh.rest.issues.async_add_labels("octo-org", "hello", 1, labels=["fixwright"])
    assert [label.name for label in labels.parsed_data] == ["fixwright"]
    await gh.rest.issues.async_remove_label("octo-org", "hello", 1, "fixwright")
    octocat = await gh.rest.repos.async_get_collaborator_permission_level(
        "octo-org", "hello", "octocat"
    )
    stranger = await gh.rest.repos.async_get_collaborator_permission_level(
        "octo-org", "hello", "stranger"
    )
    assert (octocat.parsed_data.permission, stranger.parsed_data.permission) == ("admin", "read")
    assert [c.body for c in state.issue_comments(REPO, 1)] == ["Done"]
    assert {(r.subject, r.content) for r in state.reactions} == {
        ("issue", "eyes"),
        ("comment", "rocket"),
    }
    assert state.issues[(REPO, 1)].labels == []


async def test_pull_request_endpoints_parse_and_follow_the_branch(fake_github: FakeGitHub) -> None:
    """PRs, files, reviews and check runs parse, and a PR's head follows its git branch."""
    state = fake_github.state
    sha = state.push_branch(
        REPO, "fix-1", {"hello/greet.py": 'def greet(n):\n    return "Hi, " + n\n'}
    )
    gh = client(fake_github, mint(fake_github, permissions=ALL_WRITE)["token"])
    created = await gh.rest.pulls.async_create(
        "octo-org",
        "hello",
        title="Fix greet",
        head="fix-1",
        base="main",
        body="Fixes #1",
        draft=True,
    )
    pull = created.parsed_data
    assert (pull.number, pull.head.sha, pull.draft) == (2, sha, True)
    listed = await gh.rest.pulls.async_list(
        "octo-org", "hello", head="octo-org:fix-1", state="open"
    )
    assert [p.number for p in listed.parsed_data] == [2]
    await gh.rest.pulls.async_update("octo-org", "hello", 2, title="Fix greet()")
    assert (
        await gh.rest.pulls.async_get("octo-org", "hello", 2)
    ).parsed_data.title == "Fix greet()"
    files = (await gh.rest.pulls.async_list_files("octo-org", "hello", 2)).parsed_data
    assert [(f.filename, f.status) for f in files] == [("hello/greet.py", "modified")]
    assert files[0].patch is not None
    assert '+    return "Hi, " + n' in files[0].patch
    review = await gh.rest.pulls.async_create_review(
        "octo-org",
        "hello",
        2,
        body="Summary",
        event="COMMENT",
        comments=[{"path": "hello/greet.py", "line": 2, "side": "RIGHT", "body": "Nice"}],
    )
    assert review.parsed_data.state == "COMMENTED"
    assert review.parsed_data.commit_id == sha
    reviews = (await gh.rest.pulls.async_list_reviews("octo-org", "hello", 2)).parsed_data
    assert [r.body for r in reviews] == ["Summary"]
    run = (
        await gh.rest.checks.async_create(
            "octo-org", "hello", name="fixwright", head_sha=sha, status="in_progress"
        )
    ).parsed_data
    done = await gh.rest.checks.async_update(
        "octo-org",
        "hello",
        run.id,
        conclusion="success",
        output={"title": "Fixed", "summary": "ok"},
    )
    assert (done.parsed_data.status, done.parsed_data.conclusion) == ("completed", "success")
    assert state.pull_reviews(REPO, 2)[0].comments[0]["line"] == 2
    assert state.check_runs[run.id].output["title"] == "Fixed"


async def test_pull_request_rules_match_github(fake_github: FakeGitHub) -> None:
    """Missing head branches, duplicate PRs and comments off the diff get GitHub's 422."""
    state = fake_github.state
    gh = client(fake_github, mint(fake_github, permissions=ALL_WRITE)["token"])
    with pytest.raises(RequestFailed) as missing:
        await gh.rest.pulls.async_create("octo-org", "hello", title="x", head="nope", base="main")
    assert missing.value.response.status_code == 422
    state.push_branch(REPO, "fix-1", {"NEW.md": "new\n"})
    await gh.rest.pulls.async_create("octo-org", "hello", title="x", head="fix-1", base="main")
    with pytest.raises(RequestFailed) as duplicate:
        await gh.rest.pulls.async_create("octo-org", "hello", title="y", head="fix-1", base="main")
    assert "A pull request already exists" in duplicate.value.response.text
    with pytest.raises(RequestFailed) as off_diff:
        await gh.rest.pulls.async_create_review(
            "octo-org",
            "hello",
            2,
            body="b",
            event="COMMENT",
            comments=[{"path": "README.md", "line": 1, "body": "not in the diff"}],
        )
    assert off_diff.value.response.status_code == 422
    assert len(state.pulls) == 1
    assert state.reviews == []


async def test_issues_and_pull_requests_share_numbers(fake_github: FakeGitHub) -> None:
    """Like GitHub, an issue opened after PR #2 is #3, and GET issue #2 shows it is a PR."""
    state = fake_github.state
    state.push_branch(REPO, "feature", {"x.txt": "x\n"})
    pull = state.open_pull_request(REPO, "feature", "Feature")
    issue = state.add_issue(REPO, "Another bug")
    assert (pull.number, issue.number) == (2, 3)
    gh = client(fake_github, mint(fake_github)["token"])
    as_issue = (await gh.rest.issues.async_get("octo-org", "hello", 2)).parsed_data
    assert as_issue.pull_request is not None


def test_unknown_routes_and_headers_look_like_github(fake_github: FakeGitHub) -> None:
    """Unknown routes answer JSON 404, and every answer carries request-id and rate-limit headers."""
    response = httpx.get(f"{fake_github.url}/no/such/route")
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"
    assert response.headers["x-github-request-id"]
    assert int(response.headers["x-ratelimit-remaining"]) > 0


async def test_injected_faults_answer_once(fake_github: FakeGitHub) -> None:
    """A forced 502 answers the next matching request only; the one after is served normally."""
    path = "/repos/octo-org/hello/issues/1/comments"
    fake_github.state.fail_next("POST", path, status=502)
    gh = client(fake_github, mint(fake_github)["token"])
    with pytest.raises(RequestFailed) as failed:
        await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="first")
    assert failed.value.response.status_code == 502
    await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="second")
    assert [c.body for c in fake_github.state.issue_comments(REPO, 1)] == ["second"]
    assert [r.status for r in fake_github.state.requests if r.path == path] == [502, 201]


# git over smart HTTP


def test_clone_and_push_with_a_valid_token(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """A real git clone and push over HTTP work with `x-access-token:<token>`."""
    token = mint(fake_github, permissions={"contents": "write"})["token"]
    work = tmp_path / "work"
    cloned = git("clone", fake_github.clone_url(token=token), str(work))
    assert cloned.returncode == 0, cloned.stderr
    assert "Hello " in (work / "hello" / "greet.py").read_text()
    (work / "hello" / "greet.py").write_text('def greet(name):\n    return f"Hello, {name}!"\n')
    assert git("commit", "-qam", "Fix greet", cwd=work).returncode == 0
    pushed = git("push", "origin", "HEAD:refs/heads/fixwright/issue-1", cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    files = fake_github.state.branch_files(REPO, "fixwright/issue-1")
    assert "Hello, {name}!" in files["hello/greet.py"]
    assert '+    return f"Hello, {name}!"' in fake_github.state.branch_diff(
        REPO, "fixwright/issue-1"
    )


def test_git_refuses_missing_or_bad_credentials(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """Clones without credentials or with a revoked token get 401; a foreign repository 404."""
    state = fake_github.state

    def clone_statuses(url: str, target: str) -> tuple[int, int]:
        """git's exit code and the last status the fake answered (git first tries without auth)."""
        before = len(state.requests)
        result = git("clone", url, str(tmp_path / target))
        return result.returncode, state.requests[before:][-1].status

    assert clone_statuses(fake_github.clone_url(), "a") == (128, 401)
    revoked = mint(fake_github)["token"]
    state.tokens[revoked].revoked = True
    assert clone_statuses(fake_github.clone_url(token=revoked), "b") == (128, 401)
    state.add_repository("octo-org", "other", {"a.txt": "a\n"})
    token = mint(fake_github)["token"]
    foreign = fake_github.clone_url("octo-org/other", token=token)
    assert clone_statuses(foreign, "c") == (128, 404)
    assert clone_statuses(fake_github.clone_url(token=token), "d") == (0, 200)
    response = httpx.get(f"{fake_github.url}/octo-org/hello.git/info/refs?service=git-upload-pack")
    assert response.headers["www-authenticate"] == 'Basic realm="GitHub"'


def test_a_read_only_token_cannot_push(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """A `contents: read` token can clone but its push is refused with 403 and changes nothing."""
    token = mint(fake_github, permissions={"contents": "read"})["token"]
    work = tmp_path / "work"
    assert git("clone", fake_github.clone_url(token=token), str(work)).returncode == 0
    (work / "new.txt").write_text("new\n")
    git("add", "new.txt", cwd=work)
    git("commit", "-qm", "Add", cwd=work)
    pushed = git("push", "origin", "HEAD:refs/heads/sneaky", cwd=work)
    assert pushed.returncode != 0
    assert "403" in pushed.stderr
    assert fake_github.state.branches(REPO) == ["main"]


# webhooks


def test_webhook_signatures_match_githubs_documented_example() -> None:
    """`sign` reproduces the example signature in GitHub's webhook documentation."""
    signature = sign(b"Hello, World!", "It's a Secret to Everybody")
    assert signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_delivery_headers_are_githubs() -> None:
    """Delivery headers carry the event, a uuid delivery id and both valid signatures."""
    body = b'{"action":"labeled"}'
    headers = delivery_headers("issues", body, "s3cret")
    assert headers["X-GitHub-Event"] == "issues"
    assert len(headers["X-GitHub-Delivery"]) == 36
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    expected = hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha1={expected}"
    assert headers["X-Hub-Signature-256"] == sign(body, "s3cret")
    assert delivery_headers("issues", body, "s3cret", "fixed-id")["X-GitHub-Delivery"] == "fixed-id"


async def test_file_contents_come_from_the_branch(fake_github: FakeGitHub) -> None:
    """GET contents returns a branch's file base64-encoded, and 404 for a missing file."""
    fake_github.state.push_branch(REPO, "config", {".github/fixwright.yml": "max_turns: 5\n"})
    gh = client(fake_github, mint(fake_github, permissions={"contents": "read"})["token"])
    found = await gh.rest.repos.async_get_content(
        "octo-org", "hello", ".github/fixwright.yml", ref="config"
    )
    content = found.parsed_data
    assert isinstance(content, ContentFile)
    assert base64.b64decode(content.content) == b"max_turns: 5\n"
    with pytest.raises(RequestFailed) as missing:
        await gh.rest.repos.async_get_content("octo-org", "hello", ".github/fixwright.yml")
    assert missing.value.response.status_code == 404
