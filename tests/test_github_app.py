"""The App's GitHub auth: JWTs, down-scoped cached installation tokens, revocation, clear errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from githubkit.exception import RequestFailed

from app.github_app import (
    GitHubApp,
    GitHubAuthError,
    InstallationToken,
    app_jwt,
)
from sandbox.git_command import git_authorization
from tests.fakes.github.fixtures import FakeGitHub, generate_private_key, public_key_of

REPO = "octo-org/hello"
COMMENTS = {"issues": "write"}


def test_app_jwt_claims(app_private_key: str) -> None:
    """The JWT is RS256, issued by the App id, backdated 60 s and expiring within ten minutes."""
    token = app_jwt("4242", app_private_key, now=1_700_000_000.7)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token,
        public_key_of(app_private_key),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {"iss": "4242", "iat": 1_700_000_000 - 60, "exp": 1_700_000_000 + 540}
    assert claims["exp"] - claims["iat"] <= 600


def test_an_unusable_private_key_is_named() -> None:
    """A key that is not RSA PEM fails with a message pointing at the key setting, not a trace."""
    with pytest.raises(GitHubAuthError, match="FIXWRIGHT_PRIVATE_KEY_PATH"):
        app_jwt("4242", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", 0)


async def test_the_app_client_is_accepted_by_github(fake_github: FakeGitHub) -> None:
    """A client authenticated as the App reads the App and its installations."""
    github_app = GitHubApp(fake_github.settings())
    gh = github_app.app_client()
    app = (await gh.rest.apps.async_get_authenticated()).parsed_data
    assert app is not None
    assert app.id == 4242
    found = await gh.rest.apps.async_get_repo_installation("octo-org", "hello")
    assert found.parsed_data.id == 1001


async def test_tokens_are_down_scoped_to_the_job(fake_github: FakeGitHub) -> None:
    """The App asks for the one repository and the permissions given, and gets nothing more."""
    github_app = GitHubApp(fake_github.settings())
    token = await github_app.installation_token(1001, REPO, COMMENTS)
    (minted,) = fake_github.state.minted_tokens()
    assert minted.requested_repositories == (REPO,)
    assert minted.requested_permissions == COMMENTS
    gh = github_app.client(token.token)
    await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="allowed")
    fake_github.state.push_branch(REPO, "fix", {"x.txt": "x\n"})
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.pulls.async_create("octo-org", "hello", title="t", head="fix", base="main")
    assert refused.value.response.status_code == 403


async def test_tokens_are_reused_from_the_cache(fake_github: FakeGitHub) -> None:
    """Asking twice for the same scope mints once; a different scope mints its own token."""
    github_app = GitHubApp(fake_github.settings())
    first = await github_app.installation_token(1001, REPO, COMMENTS)
    again = await github_app.installation_token(1001, REPO, dict(COMMENTS))
    other = await github_app.installation_token(1001, REPO, {"contents": "write"})
    assert first.token == again.token
    assert other.token != first.token
    assert len(fake_github.state.minted_tokens()) == 2


async def test_tokens_are_reminted_near_expiry(fake_github: FakeGitHub) -> None:
    """A cached token within five minutes of expiring is replaced by a fresh one."""
    fake_github.state.token_lifetime = timedelta(minutes=4)
    github_app = GitHubApp(fake_github.settings())
    first = await github_app.installation_token(1001, REPO, COMMENTS)
    second = await github_app.installation_token(1001, REPO, COMMENTS)
    assert first.token != second.token
    fake_github.state.token_lifetime = timedelta(hours=1)
    third = await github_app.installation_token(1001, REPO, COMMENTS)
    assert third.token == (await github_app.installation_token(1001, REPO, COMMENTS)).token
    assert len(fake_github.state.minted_tokens()) == 3


async def test_for_job_revokes_the_token_at_the_end(fake_github: FakeGitHub) -> None:
    """Inside the job the client works; afterwards its token gets 401 from GitHub."""
    github_app = GitHubApp(fake_github.settings())
    async with github_app.for_job(1001, REPO, COMMENTS) as gh:
        await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="progress")
        token = await github_app.installation_token(1001, REPO, COMMENTS)
    assert [c.body for c in fake_github.state.issue_comments(REPO, 1)] == ["progress"]
    after = github_app.client(token.token)
    with pytest.raises(RequestFailed) as refused:
        await after.rest.issues.async_get("octo-org", "hello", 1)
    assert refused.value.response.status_code == 401
    assert len(fake_github.state.minted_tokens()) == 1


async def test_for_job_revokes_even_when_the_job_fails(fake_github: FakeGitHub) -> None:
    """A job that raises still leaves no live token behind."""
    github_app = GitHubApp(fake_github.settings())
    with pytest.raises(RuntimeError):
        async with github_app.for_job(1001, REPO, COMMENTS):
            raise RuntimeError("the sandbox crashed")
    assert [t.revoked for t in fake_github.state.minted_tokens()] == [True]


async def test_overlapping_jobs_share_a_token_until_the_last_ends(fake_github: FakeGitHub) -> None:
    """Two jobs on one repository share a token, and it stays valid until both have ended."""
    github_app = GitHubApp(fake_github.settings())
    async with github_app.for_job(1001, REPO, COMMENTS) as first:
        async with github_app.for_job(1001, REPO, COMMENTS) as second:
            await second.rest.issues.async_create_comment("octo-org", "hello", 1, body="two")
        await first.rest.issues.async_create_comment("octo-org", "hello", 1, body="one")
        assert [t.revoked for t in fake_github.state.minted_tokens()] == [False]
    assert [t.revoked for t in fake_github.state.minted_tokens()] == [True]


async def test_a_long_job_refreshes_and_revokes_every_token(fake_github: FakeGitHub) -> None:
    """A job outliving its token gets a fresh one per call, and all of them die with the job."""
    fake_github.state.token_lifetime = timedelta(minutes=4)
    github_app = GitHubApp(fake_github.settings())
    async with github_app.for_job(1001, REPO, COMMENTS) as gh:
        await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="a")
        await gh.rest.issues.async_create_comment("octo-org", "hello", 1, body="b")
    minted = fake_github.state.minted_tokens()
    assert len(minted) == 3
    assert all(t.revoked for t in minted)


async def test_a_key_of_another_app_is_explained(fake_github: FakeGitHub) -> None:
    """A private key that does not match the App says so, naming the App id."""
    github_app = GitHubApp(fake_github.settings(private_key=generate_private_key()))
    with pytest.raises(GitHubAuthError, match="the private key does not belong to App 4242"):
        await github_app.installation_token(1001, REPO, COMMENTS)


async def test_a_wrong_app_id_is_explained(fake_github: FakeGitHub) -> None:
    """An App id GitHub does not know points the operator at FIXWRIGHT_APP_ID."""
    github_app = GitHubApp(fake_github.settings(app_id="4343"))
    with pytest.raises(GitHubAuthError, match=r"no App with id 4343.*FIXWRIGHT_APP_ID"):
        await github_app.installation_token(1001, REPO, COMMENTS)


async def test_a_removed_installation_is_explained(fake_github: FakeGitHub) -> None:
    """A job for an installation that is gone says the App was uninstalled."""
    del fake_github.state.installations[1001]
    github_app = GitHubApp(fake_github.settings())
    with pytest.raises(GitHubAuthError, match=r"no installation 1001.*uninstalled"):
        async with github_app.for_job(1001, REPO, COMMENTS):
            pass


async def test_missing_permissions_and_repositories_are_explained(fake_github: FakeGitHub) -> None:
    """A permission not granted, or a repository outside the installation, is named."""
    github_app = GitHubApp(fake_github.settings())
    with pytest.raises(GitHubAuthError, match=r"has not granted .*workflows: write"):
        await github_app.installation_token(1001, REPO, {"workflows": "write"})
    with pytest.raises(GitHubAuthError, match="cannot reach octo-org/secret"):
        await github_app.installation_token(1001, "octo-org/secret", COMMENTS)


async def test_secrets_stay_out_of_errors_and_reprs(fake_github: FakeGitHub) -> None:
    """Neither the private key nor a token shows in an error message or a repr."""
    github_app = GitHubApp(fake_github.settings())
    token = await github_app.installation_token(1001, REPO, COMMENTS)
    with pytest.raises(GitHubAuthError) as failure:
        await github_app.installation_token(1001, REPO, {"workflows": "write"})
    client = github_app.client(token.token)
    shown = " ".join(
        [str(failure.value), repr(failure.value), repr(token), repr(github_app), repr(client.auth)]
    )
    assert token.token not in shown
    assert "PRIVATE KEY" not in shown
    assert failure.value.__cause__ is None
    assert isinstance(token, InstallationToken)


async def test_git_clones_with_the_authorization_header(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """A job's token given to git as an extra header clones, and the token stays out of the URL."""
    github_app = GitHubApp(fake_github.settings())
    token = await github_app.installation_token(1001, REPO, {"contents": "read"})
    header = f"http.extraHeader=Authorization: {git_authorization(token.token)}"
    target = tmp_path / "clone"
    cloned = await asyncio.to_thread(
        subprocess.run,
        ["git", "-c", header, "clone", fake_github.clone_url(), str(target)],
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull},
        capture_output=True,
        text=True,
        check=False,
    )
    assert cloned.returncode == 0, cloned.stderr
    assert (target / "hello" / "greet.py").is_file()
    assert token.token not in (target / ".git" / "config").read_text()


async def test_a_jwt_refused_for_clock_skew_is_signed_again_on_githubs_clock(
    fake_github: FakeGitHub,
) -> None:
    """GitHub's clock is 20 minutes ahead: the first JWT is refused, the second (per `Date`) works."""
    fake_github.state.clock_offset = 20 * 60
    app = GitHubApp(fake_github.settings())
    token = await app.installation_token(1001, REPO, COMMENTS)
    assert token.token.startswith("ghs_")
    statuses = [r.status for r in fake_github.state.requests if r.path.endswith("/access_tokens")]
    assert statuses == [401, 201]
