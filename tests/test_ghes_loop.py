"""GitHub Enterprise Server end to end: the fix loop and `/review` on the real CLI in the real
sandbox, against the fake GitHub shaped like GHES (REST under `/api/v3` on one port, git and the
web root on another), with only FIXWRIGHT_GITHUB_API_URL and FIXWRIGHT_GITHUB_WEB_URL changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.github.ghes import API_PREFIX, GhesServers
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import BRANCH, FIX, label_delivery, progress_comments, wait_for_jobs
from tests.test_ghes import assert_links_on_web_root, git_arrivals
from tests.test_review import (
    UNDEFINED,
    one_review,
    open_feature_pull,
    request_review,
    review_scenario,
)

pytestmark = pytest.mark.docker


@pytest.fixture
def fake_github(ghes_github: FakeGitHub) -> FakeGitHub:
    """The service fixtures wire `fake_github` in: here it is the GHES-shaped fake."""
    return ghes_github


def assert_only_the_url_settings_differ(service: ServiceProcess, fake: FakeGitHub) -> None:
    assert service.env["FIXWRIGHT_GITHUB_API_URL"] == fake.url
    assert fake.url.endswith(API_PREFIX)
    assert service.env["FIXWRIGHT_GITHUB_WEB_URL"] == fake.web_url != fake.url


def assert_api_only_under_prefix(servers: GhesServers) -> None:
    paths = servers.log.paths("api")
    assert paths and all(path.startswith(API_PREFIX + "/") for path in paths), paths
    assert not git_arrivals(servers, "api")
    assert all(".git/" in path for path in servers.log.paths("web"))


def test_a_label_on_ghes_becomes_a_draft_pull_request_linked_on_the_web_root(
    agent_service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    ghes_github_servers: GhesServers,
) -> None:
    """Cloned and pushed on the web port; the progress comment links the PR on the web root."""
    assert_only_the_url_settings_differ(agent_service, fake_github)
    fake_model.set_scenario(FIX)

    agent_service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(agent_service)

    assert job["state"] == "succeeded", job
    state = fake_github.state
    assert BRANCH in state.branches(REPOSITORY)
    [pull] = state.pulls.values()
    web = git_arrivals(ghes_github_servers, "web")
    assert any("upload-pack" in path for path in web), web
    assert any("receive-pack" in path for path in web), web
    assert_api_only_under_prefix(ghes_github_servers)
    links = assert_links_on_web_root(fake_github)
    [progress] = progress_comments(fake_github)
    pull_link = f"{fake_github.web_url}/{REPOSITORY}/pull/{pull.number}"
    assert f"[#{pull.number}]({pull_link})" in progress.body
    assert pull_link in links


def test_a_review_on_ghes_fetches_from_the_web_port_and_links_on_the_web_root(
    agent_service: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    ghes_github_servers: GhesServers,
) -> None:
    """`/review` reads the PR through /api/v3, fetches its head on the web port, and reviews."""
    assert_only_the_url_settings_differ(agent_service, fake_github)
    state = fake_github.state
    number = open_feature_pull(state)
    fake_model.set_scenario(review_scenario(UNDEFINED))

    job = request_review(agent_service, state, number)

    assert job["state"] == "succeeded", job
    review = one_review(state, number)
    assert review.state == "COMMENTED" and review.comments
    assert any("upload-pack" in path for path in git_arrivals(ghes_github_servers, "web"))
    assert_api_only_under_prefix(ghes_github_servers)
    assert_links_on_web_root(fake_github)
