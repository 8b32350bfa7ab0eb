"""End to end: a new user's first start, in a real browser (Debian's Chromium, driven by Playwright).

`fixwright serve` with no App credentials serves the set-up page; the model key is given to it;
clicking "Register" posts the manifest to the fake GitHub, which makes the App and sends the
browser back to the callback; the page then shows the install link, the service switches to
normal mode without a restart, and a labelled issue becomes a pull request with the stored
credentials (the real CLI in the sandbox). Screenshots of both pages go to `test-artifacts/`.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from app.secrets_store import SecretsStore
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.fixtures.setup_browser import register_from_page
from tests.test_fix_loop import BRANCH, FIX, changed_lines, label_delivery, wait_for_jobs
from tests.test_job_page_browser import browser  # noqa: F401 (a fixture)
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

CREDENTIALS = (
    "FIXWRIGHT_APP_ID",
    "FIXWRIGHT_PRIVATE_KEY",
    "FIXWRIGHT_WEBHOOK_SECRET",
    "FIXWRIGHT_ANTHROPIC_API_KEY",
)


def start_unregistered(service: ServiceProcess) -> None:
    """Start `fixwright serve` as a new user would: no App, no model key; ready once /setup answers."""
    for name in CREDENTIALS:
        service.env.pop(name, None)
    env = {**service.env, "FIXWRIGHT_PORT": str(service.port)}
    with service.log_path.open("ab") as log:
        service.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=service.log_path.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        assert service.process is not None
        assert service.process.poll() is None, f"fixwright serve exited:\n{service.logs()}"
        try:
            return httpx.get(service.url + "/setup/status", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, 30)


def test_a_new_user_registers_the_app_from_the_page_and_a_label_becomes_a_pr(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    browser: Browser,  # noqa: F811
) -> None:
    service = agent_service_process
    start_unregistered(service)
    assert httpx.get(service.url + "/setup/status").json()["mode"] == "setup"
    stored_key = httpx.post(service.url + "/setup/model-key", json={"key": fake_model.api_key})
    assert stored_key.status_code == 200, stored_key.text

    register_from_page(browser, service.url, fake_github, "setup")
    state = fake_github.state

    status = httpx.get(service.url + "/setup/status").json()
    assert status["mode"] == "normal"
    assert status["app_id"] == str(state.app_id)
    assert status["secrets"]["anthropic_api_key"] == "stored"
    assert httpx.get(service.url + "/setup").status_code == 404
    wait_for(lambda: httpx.get(service.url + "/health").status_code == 200, 30)

    fake_model.set_scenario(FIX)
    delivered = service.post("issues", label_delivery(fake_github), secret=state.webhook_secret)
    assert delivered.status_code < 300, delivered.text
    [job] = wait_for_jobs(service)
    assert job["state"] == "succeeded", job
    assert changed_lines(state.branch_diff(REPOSITORY, BRANCH))
    [pull] = state.pulls.values()
    assert pull.head == BRANCH

    stored = SecretsStore(service.env["FIXWRIGHT_STATE_DIR"]).read()
    logs = service.logs()
    for name in ("PRIVATE_KEY", "WEBHOOK_SECRET", "CLIENT_SECRET", "ANTHROPIC_API_KEY"):
        assert stored[name].strip() not in logs, name
