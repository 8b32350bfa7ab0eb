"""The README's first start through the compose file: deploy/docker-compose.yml brought up with
no App credentials serves the set-up page; registered from it in a real browser (Debian's
Chromium), the compose-run service stores the App in its data directory, switches to normal mode,
and turns a labelled issue into a pull request; then it is taken down.

Images are built here (tests/fixtures/service_image.py); the service runs on the host's network,
where the fake GitHub and the scripted model listen. Screenshots: test-artifacts/compose-setup-*.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from app.secrets_store import SecretsStore
from tests.fakes.github.fixtures import FakeGitHub
from tests.fakes.github.webhooks import delivery_headers
from tests.fakes.model.fixtures import FakeModel
from tests.fixtures.service_image import (
    JOB_TIMEOUT,
    compose_directory,
    compose_up,
    finished_jobs,
    on_host_network,
    wait_until_answers,
)
from tests.fixtures.setup_browser import register_from_page
from tests.test_fix_loop import BRANCH, FIX, label_delivery
from tests.test_job_page_browser import browser  # noqa: F401 (a fixture)
from tests.waiting import wait_for

pytestmark = pytest.mark.docker


def first_start_settings(
    fake_github: FakeGitHub, fake_model: FakeModel, sandbox_image: str
) -> dict[str, str]:
    """../.env as a new user's: where GitHub is, and nothing of an App; the model's address and
    a short sandbox timeout only because both are fakes."""
    return {
        "FIXWRIGHT_GITHUB_API_URL": fake_github.url,
        "FIXWRIGHT_GITHUB_WEB_URL": fake_github.web_root,
        "FIXWRIGHT_MODEL_UPSTREAM_URL": fake_model.url,
        "FIXWRIGHT_SANDBOX_IMAGE": sandbox_image,
        "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS": "60",
        "FIXWRIGHT_WORKERS": "1",
        "FIXWRIGHT_POLL_INTERVAL_SECONDS": "0.2",
    }


def test_a_new_user_registers_the_app_on_the_compose_service_and_a_label_becomes_a_pr(
    service_image: str,
    sandbox_image: str,
    compose_root: Path,
    data_dir: Path,
    fake_github: FakeGitHub,
    fake_model: FakeModel,
    browser: Browser,  # noqa: F811
) -> None:
    del service_image
    settings = first_start_settings(fake_github, fake_model, sandbox_image)
    deploy = compose_directory(compose_root, data_dir, settings)
    url = on_host_network(deploy)
    with compose_up(deploy, "fixwright") as project:
        logs = project.logs
        wait_until_answers(url + "/setup/status", logs)
        assert httpx.get(url + "/setup/status").json()["mode"] == "setup"
        model_key = httpx.post(url + "/setup/model-key", json={"key": fake_model.api_key})
        assert model_key.status_code == 200, model_key.text

        register_from_page(browser, url, fake_github, "compose-setup")
        state = fake_github.state
        status = httpx.get(url + "/setup/status").json()
        assert (status["mode"], status["app_id"]) == ("normal", str(state.app_id)), logs()
        assert set(status["secrets"].values()) == {"stored"}
        stored = SecretsStore(data_dir).read()  # in the data directory, where compose keeps it
        assert stored["APP_ID"] == str(state.app_id)

        fake_model.set_scenario(FIX)
        encoded = json.dumps(label_delivery(fake_github)).encode()
        headers = delivery_headers("issues", encoded, state.webhook_secret)
        answer = httpx.post(url + "/webhooks/github", content=encoded, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text
        service = project.container("fixwright")
        [job] = wait_for(lambda: finished_jobs(service), JOB_TIMEOUT)
        assert job["state"] == "succeeded", f"{job}\n{logs()}"
        [pull] = state.pulls.values()
        assert (pull.draft, pull.head) == (True, BRANCH)
        shown = logs()
        for name in ("PRIVATE_KEY", "WEBHOOK_SECRET", "CLIENT_SECRET", "ANTHROPIC_API_KEY"):
            assert stored[name].strip() not in shown, name
