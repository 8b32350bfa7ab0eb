"""GitHub Enterprise Server: which address each use goes to (app/github_urls.py), in process.

The rule, registering the App by manifest, and the fix job against the GHES-shaped fake (API
under `/api/v3` on one port, git and the web root on another) with a scripted sandbox. The real CLI in the real container against the
same fake is `tests/test_ghes_loop.py`. Also the readers of what the service wrote that both use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.config import Settings
from app.errors import JobFailed
from app.github_urls import git_url, origin_of, under_web_root
from app.routing import Registry
from app.store import JobState
from app.web import create_app
from tests.fakes.github import payloads
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.github.ghes import API_PREFIX, GhesServers
from tests.fakes.github.state import GitHubState
from tests.fakes.sandbox import ScriptedRun
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.test_fake_github import client, git, mint
from tests.test_fix_handler import GREET, fixed_greet, the_fix
from tests.test_fix_loop import BRANCH, label_delivery
from tests.test_followup import EMPTY_CASE, HUNK, fixed_pull, review_of
from tests.test_health import served
from tests.test_setup import setup_form, submit, unregistered

LINK = re.compile(r"https?://[^\s)\]>\"'`]+")


# Readers shared with tests/test_ghes_loop.py.


def written_texts(state: GitHubState) -> list[str]:
    """Everything people read that the service wrote: comments, PR bodies, reviews, replies,
    check runs (their output and their details link)."""
    texts = [comment.body for comment in state.comments.values()]
    texts += [issue.body or "" for issue in state.issues.values() if issue.is_pull_request]
    texts += [review.body + json.dumps(review.comments) for review in state.reviews]
    texts += [reply.body for reply in state.review_replies]
    for run in state.check_runs.values():
        texts += [run.details_url or "", json.dumps(run.output)]
    return texts


def links_in(texts: list[str]) -> list[str]:
    return [link for text in texts for link in LINK.findall(text)]


def assert_links_on_web_root(fake: FakeGitHub) -> list[str]:
    """Every link the service wrote is under the web root, none at the API's port or prefix."""
    links = links_in(written_texts(fake.state))
    api_origin = origin_of(fake.url)
    for link in links:
        assert API_PREFIX not in urlsplit(link).path, link
        assert origin_of(link) != api_origin, link
        assert under_web_root(link, fake.web_root), link
    return links


def git_arrivals(servers: GhesServers, port: str) -> list[str]:
    """The git smart-HTTP paths one port of the two-port fake was asked for."""
    return [path for path in servers.log.paths(port) if ".git/" in path]


# The rule.


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://github.com/octo-org/hello.git", "https://github.com"),
        ("https://GHE.example.com/octo-org/hello.git", "https://ghe.example.com"),
        ("https://ghe.example.com:443/octo-org/hello.git", "https://ghe.example.com"),
        ("http://127.0.0.1:8080/octo-org/hello.git", "http://127.0.0.1:8080"),
        ("https://example.com/git/octo-org/hello.git", "https://example.com/git"),
        ("https://example.com/git/octo-org/hello.git", "https://example.com/git/"),
    ],
)
def test_a_url_on_the_web_root_is_under_it(url: str, root: str) -> None:
    assert under_web_root(url, root)


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://ghe.example.com/octo-org/hello.git", "https://github.com"),
        ("http://github.com/octo-org/hello.git", "https://github.com"),  # another scheme
        ("https://github.com:8443/octo-org/hello.git", "https://github.com"),  # another port
        ("https://github.com.evil.example/octo-org/hello.git", "https://github.com"),
        ("https://evil.example/github.com/octo-org/hello.git", "https://github.com"),
        ("https://github.com@evil.example/octo-org/hello.git", "https://github.com"),
        ("https://x-access-token:t@github.com/octo-org/hello.git", "https://github.com"),
        ("https://example.com/gitx/octo-org/hello.git", "https://example.com/git"),  # not below
        ("https://example.com/octo-org/hello.git", "https://example.com/git"),
        ("https://github.com:notaport/octo-org/hello.git", "https://github.com"),
        ("https://api.github.com/repos/octo-org/hello", "https://github.com"),
    ],
)
def test_a_url_elsewhere_is_not_under_the_web_root(url: str, root: str) -> None:
    assert not under_web_root(url, root)


def test_an_origin_shows_scheme_host_and_a_port_only_when_it_is_not_the_default() -> None:
    assert origin_of("https://user:secret@GHE.example.com:443/a/b.git?x=1") == (
        "https://ghe.example.com"
    )
    assert origin_of("http://127.0.0.1:8080/api/v3") == "http://127.0.0.1:8080"


def test_git_goes_to_the_apis_clone_url_when_it_is_on_the_web_root() -> None:
    settings = Settings(
        github_api_url="https://ghe.example.com/api/v3", github_web_url="https://ghe.example.com"
    )
    url = "https://ghe.example.com/octo-org/hello.git"
    assert git_url(url, settings) == url


def test_a_clone_url_off_the_web_root_fails_naming_the_setting_to_change() -> None:
    """GHES with the web URL left at github.com: the token would go to a host not named as git's."""
    settings = Settings(github_api_url="https://ghe.example.com/api/v3")
    with pytest.raises(JobFailed) as failed:
        git_url("https://ghe.example.com/octo-org/hello.git?token=x", settings)
    reason, next_step = failed.value.reason, failed.value.next_step
    assert "https://ghe.example.com" in reason and "https://github.com" in reason
    assert "token=x" not in reason and "/octo-org" not in reason
    assert "FIXWRIGHT_GITHUB_WEB_URL" in next_step and "/api/v3" in next_step


# The fix job, in process, against the GHES-shaped fake.


@pytest.fixture
def fake_github(ghes_github: FakeGitHub) -> FakeGitHub:
    """This module's fake GitHub is the GHES-shaped one (the engine fixtures use `fake_github`)."""
    return ghes_github


async def test_the_ghes_fake_serves_rest_under_api_v3_and_git_on_the_web_port(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """githubkit pointed at `<api>/api/v3` parses its answers; `url`s are the API's, `html_url` and
    `clone_url` the web root's; each port refuses the other's share."""
    token = mint(fake_github, permissions={"contents": "read", "metadata": "read"})["token"]
    gh = client(fake_github, token)
    repository = (await gh.rest.repos.async_get("octo-org", "hello")).parsed_data
    assert repository.url == f"{fake_github.url}/repos/{REPOSITORY}"
    assert repository.html_url == f"{fake_github.web_root}/{REPOSITORY}"
    assert repository.clone_url == fake_github.clone_url()
    assert origin_of(fake_github.url) != origin_of(fake_github.web_root)

    cloned = git("clone", fake_github.clone_url(token=token), str(tmp_path / "web"))
    assert cloned.returncode == 0, cloned.stderr
    on_api = f"{fake_github.url}/{REPOSITORY}.git".replace("://", f"://x-access-token:{token}@")
    assert git("clone", on_api, str(tmp_path / "api")).returncode != 0
    no_prefix = fake_github.url.removesuffix(API_PREFIX)
    async with httpx.AsyncClient(headers={"Authorization": f"token {token}"}) as http:
        for elsewhere in (fake_github.web_root, no_prefix):
            answer = await http.get(f"{elsewhere}/repos/{REPOSITORY}")
            assert (answer.status_code, answer.json()) == (404, payloads.error("Not Found"))


async def test_a_fix_on_ghes_clones_and_pushes_on_the_web_port_and_links_there(
    engine: Engine, ghes_github_servers: GhesServers
) -> None:
    """Only the two URL settings differ: the REST API under /api/v3, git and links on the web root."""
    fake = engine.github
    assert engine.settings.github_api_url.endswith(API_PREFIX)
    engine.script(the_fix(engine))
    finished(await engine.run_delivery("issues", label_delivery(fake)), JobState.SUCCEEDED)

    assert BRANCH in fake.state.branches(REPOSITORY)
    api_paths = ghes_github_servers.log.paths("api")
    assert api_paths and all(path.startswith(API_PREFIX + "/") for path in api_paths)
    assert not git_arrivals(ghes_github_servers, "api")
    pushes = [p for p in git_arrivals(ghes_github_servers, "web") if "receive-pack" in p]
    assert pushes and git_arrivals(ghes_github_servers, "web")
    [pull] = fake.state.pulls.values()
    links = assert_links_on_web_root(fake)
    assert f"{fake.web_root}/{REPOSITORY}/pull/{pull.number}" in links


async def test_a_web_url_naming_another_host_sends_no_token_to_git(
    make_engine: EngineFactory, ghes_github_servers: GhesServers
) -> None:
    """FIXWRIGHT_GITHUB_WEB_URL left at github.com on GHES: the job stops before git, and says
    which setting to change."""
    engine = await make_engine(github_web_url="https://github.com")
    engine.script(the_fix(engine))
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )

    assert "FIXWRIGHT_GITHUB_WEB_URL" in job.summary
    assert not git_arrivals(ghes_github_servers, "web")
    assert not git_arrivals(ghes_github_servers, "api")
    assert engine.sandbox.runs  # the scripted run was never played
    said = "\n".join(c.body for c in engine.github.state.issue_comments(REPOSITORY, 1))
    assert "FIXWRIGHT_GITHUB_WEB_URL" in said and "/api/v3" in said


async def test_a_follow_up_on_ghes_pushes_on_the_web_port_and_links_there(
    engine: Engine, ghes_github_servers: GhesServers
) -> None:
    """A review on fixwright's PR: the new commit goes to the web port; the PR body, the
    progress comment and the thread's reply link only the web root."""
    number = await fixed_pull(engine)
    ghes_github_servers.log.arrivals.clear()
    comment = {"path": GREET, "line": 6, "body": "Also handle an empty list.", "diff_hunk": HUNK}
    engine.script(
        ScriptedRun(summary="Added greet_all.", files={GREET: fixed_greet(engine) + EMPTY_CASE})
    )
    finished(
        await engine.run_delivery("pull_request_review", review_of(engine, number, [comment])),
        JobState.SUCCEEDED,
    )

    assert [p for p in git_arrivals(ghes_github_servers, "web") if "receive-pack" in p]
    assert not git_arrivals(ghes_github_servers, "api")
    assert engine.github.state.review_replies
    assert assert_links_on_web_root(engine.github)


# Registering the App by manifest on GHES.


def test_the_app_is_registered_on_the_web_root_and_converted_on_the_api(
    fake_github: FakeGitHub, ghes_github_servers: GhesServers, tmp_path: Path
) -> None:
    """The page's form posts to FIXWRIGHT_GITHUB_WEB_URL's new-App page, the code is converted at
    FIXWRIGHT_GITHUB_API_URL, and the install link is GHES's `/github-apps/<slug>` page."""
    web, api = fake_github.web_root, fake_github.url
    with served(create_app(unregistered(fake_github, tmp_path), Registry([]))) as url:
        form = setup_form(url)
        assert form.action.startswith(f"{web}/settings/apps/new?state=")
        organisation = setup_form(url, "?org=octo-org")
        assert organisation.action.startswith(f"{web}/organizations/octo-org/settings/apps/new?")
        ghes_github_servers.log.arrivals.clear()
        done = httpx.get(submit(form))
        assert done.status_code == 200, done.text
        slug = fake_github.state.app_slug
        assert f'href="{web}/github-apps/{slug}/installations/new"' in done.text
        assert httpx.get(url + "/setup/status").json()["mode"] == "normal"

    web_paths = ghes_github_servers.log.paths("web")
    api_paths = ghes_github_servers.log.paths("api")
    assert web_paths[0] == "/settings/apps/new"
    assert [p for p in api_paths if p.startswith(f"{API_PREFIX}/app-manifests/")]
    assert not [p for p in web_paths if "app-manifests" in p]
    assert not [p for p in api_paths if "settings/apps" in p]
    assert origin_of(api) != origin_of(web)


def test_each_ghes_port_refuses_the_others_half_of_the_manifest_flow(
    fake_github: FakeGitHub,
) -> None:
    """A form posted to the API's root, or a conversion asked of the web root, finds nothing:
    the test above passes only because each went where GHES serves it."""
    web, api = fake_github.web_root, fake_github.url
    assert (
        httpx.post(f"{api}/settings/apps/new?state=s", data={"manifest": "{}"}).status_code == 404
    )
    assert httpx.post(f"{web}/app-manifests/abc/conversions").status_code == 404
