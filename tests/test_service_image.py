"""The service image (Dockerfile at the top) runs real jobs: built here, started with the engine's
socket and a data directory mounted at the same path, a labelled issue becomes a pull request
from inside it, its HEALTHCHECK reports healthy, and `fixwright doctor` in it finds nothing wrong;
the compose file brings the service up with an App registered before, and Prometheus scrapes it.
The compose file's first start, in set-up mode, is tests/test_compose_setup.py.

The fake GitHub and the scripted model listen on the host's loopback; the container shares the
host's network to reach them (tests/fixtures/service_image.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from docker.models.containers import Container
from docker.types import Healthcheck

from sandbox.container import AGENT_UID
from tests.fakes.github.fixtures import REPOSITORY, WEBHOOK_SECRET, FakeGitHub
from tests.fakes.github.webhooks import delivery_headers
from tests.fakes.model.fixtures import FakeModel
from tests.fixtures.service import free_port
from tests.fixtures.service_image import (
    ENGINE_SOCKET,
    JOB_TIMEOUT,
    compose,
    compose_directory,
    compose_up,
    finished_jobs,
    logs_of,
    published,
    wait_until_answers,
)
from tests.test_fix_loop import BRANCH, FIX, NEW_LINE, OLD_LINE, changed_lines, label_delivery
from tests.waiting import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture
def service_container(
    docker_client: docker.DockerClient,
    service_image: str,
    sandbox_image: str,
    data_dir: Path,
    fake_github: FakeGitHub,
    fake_model: FakeModel,
) -> Iterator[tuple[Container, str]]:
    """The image run as the README says: the engine's socket, the data directory at the same
    path, the host's network; its health checked every second instead of every 15."""
    port = free_port()
    environment = {
        **fake_github.environment(),
        "FIXWRIGHT_ANTHROPIC_API_KEY": fake_model.api_key,
        "FIXWRIGHT_MODEL_UPSTREAM_URL": fake_model.url,
        "FIXWRIGHT_SANDBOX_IMAGE": sandbox_image,
        "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS": "60",
        "FIXWRIGHT_STATE_DIR": str(data_dir),
        "FIXWRIGHT_STORE_URL": f"sqlite:///{data_dir}/fixwright.db",
        "TMPDIR": f"{data_dir}/tmp",
        "FIXWRIGHT_HOST": "127.0.0.1",
        "FIXWRIGHT_PORT": str(port),
        "FIXWRIGHT_WORKERS": "1",
        "FIXWRIGHT_POLL_INTERVAL_SECONDS": "0.2",
        "FIXWRIGHT_SHUTDOWN_GRACE_SECONDS": "3",
    }
    container = docker_client.containers.run(
        service_image,
        name=f"fixwright-service-test-{uuid.uuid4().hex[:8]}",
        detach=True,
        network_mode="host",
        environment=environment,
        volumes={
            str(data_dir): {"bind": str(data_dir), "mode": "rw"},
            str(ENGINE_SOCKET): {"bind": str(ENGINE_SOCKET), "mode": "rw"},
        },
        group_add=[str(ENGINE_SOCKET.stat().st_gid)],
        # Only the interval: the test command is the image's own.
        healthcheck=Healthcheck(interval=1_000_000_000),
    )
    try:
        yield container, f"http://127.0.0.1:{port}"
    finally:
        container.remove(force=True)


def health_of(container: Container) -> str:
    container.reload()
    return str(container.attrs["State"].get("Health", {}).get("Status", ""))


def exec_text(container: Container, command: list[str]) -> tuple[int, str]:
    """Run a command in the container: its exit code and its output."""
    result = container.exec_run(command)
    output = result.output
    assert isinstance(output, bytes) and result.exit_code is not None
    return result.exit_code, output.decode(errors="replace")


def test_the_image_runs_as_a_non_root_user_with_its_health_check(
    docker_client: docker.DockerClient, service_image: str
) -> None:
    config = docker_client.images.get(service_image).attrs["Config"]
    assert config["User"] == "fixwright"
    test = " ".join(config["Healthcheck"]["Test"])
    assert "/health" in test and "timeout=1" in test


def test_a_labelled_issue_becomes_a_pull_request_from_the_service_container(
    service_container: tuple[Container, str], fake_github: FakeGitHub, fake_model: FakeModel
) -> None:
    container, url = service_container
    wait_for(lambda: health_of(container) == "healthy" or container.status == "exited", 90)
    assert health_of(container) == "healthy", logs_of(container)
    assert exec_text(container, ["id", "-u"]) == (0, f"{AGENT_UID}\n")

    fake_model.set_scenario(FIX)
    body = json.dumps(label_delivery(fake_github)).encode()
    headers = delivery_headers("issues", body, WEBHOOK_SECRET)
    assert (
        httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=30).status_code
        == 202
    )

    [job] = wait_for(lambda: finished_jobs(container), JOB_TIMEOUT)
    assert job["state"] == "succeeded", logs_of(container)
    [pull] = fake_github.state.pulls.values()
    assert (pull.draft, pull.head, pull.base) == (True, BRANCH, "main")
    assert changed_lines(fake_github.state.branch_diff(REPOSITORY, BRANCH)) == [
        f"-    {OLD_LINE}",
        f"+    {NEW_LINE}",
    ]

    # The doctor, run where the service runs, finds the same-path rule kept and nothing wrong.
    code, shown = exec_text(container, ["fixwright", "doctor"])
    assert code == 0, shown
    assert "OK     state directory on the host:" in shown
    assert "OK     relay socket directory on the host:" in shown
    assert "OK     sandbox image:" in shown


def test_the_service_refuses_to_start_when_its_data_is_not_at_the_hosts_same_path(
    docker_client: docker.DockerClient,
    service_image: str,
    data_dir: Path,
    fake_github: FakeGitHub,
) -> None:
    """The data directory mounted at the image's /var/lib/fixwright from another host path: every
    job would fail, so the service says why and does not start."""
    container = docker_client.containers.run(
        service_image,
        detach=True,
        network_mode="none",
        environment={**fake_github.environment(), "FIXWRIGHT_METRICS_PUBLIC": "true"},
        volumes={
            str(data_dir): {"bind": "/var/lib/fixwright", "mode": "rw"},
            str(ENGINE_SOCKET): {"bind": str(ENGINE_SOCKET), "mode": "rw"},
        },
        group_add=[str(ENGINE_SOCKET.stat().st_gid)],
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 2, logs_of(container)
        shown = logs_of(container)
        assert f"/var/lib/fixwright is mounted from {data_dir}" in shown
        assert "same path inside and outside" in shown
    finally:
        container.remove(force=True)


COMPOSE_SERVICES = ("fixwright", "prometheus")  # Grafana's image comes only from a registry


def key_in_data_dir(data_dir: Path, private_key: str) -> Path:
    """The App's key where the compose file's comment says to put it: in the data directory,
    the service user's (uid 1000), mode 0600."""
    path = data_dir / "private-key.pem"
    path.write_text(private_key)
    path.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(path, AGENT_UID, AGENT_UID)
    return path


def test_the_compose_file_starts_the_service_and_prometheus_scrapes_it(
    service_image: str, compose_root: Path, data_dir: Path, fake_github: FakeGitHub
) -> None:
    """An App registered before, given as the compose file's comment says (its id and webhook
    secret in ../.env, its key in the data directory); Prometheus built from Debian's package."""
    del service_image
    settings = fake_github.environment()
    del settings["FIXWRIGHT_PRIVATE_KEY"]
    settings["FIXWRIGHT_PRIVATE_KEY_PATH"] = str(key_in_data_dir(data_dir, fake_github.private_key))
    deploy = compose_directory(compose_root, data_dir, settings)
    checked = compose("fwtest", deploy, "config", "--quiet")
    assert checked.returncode == 0, checked.stderr
    built = compose("fwtest", deploy, "build", "prometheus")
    assert built.returncode == 0, built.stdout + built.stderr
    with compose_up(deploy, *COMPOSE_SERVICES) as project:
        logs = project.logs
        service = "http://" + published(deploy, "FIXWRIGHT_PUBLISH")
        prometheus = f"http://127.0.0.1:{published(deploy, 'PROMETHEUS_PUBLISH')}"
        wait_until_answers(service + "/health", logs)
        status = httpx.get(service + "/setup/status", timeout=5).json()
        assert (status["mode"], status["secrets"]["private_key"]) == ("normal", "env"), status

        def scraped() -> bool:
            try:
                answer = httpx.get(
                    prometheus + "/api/v1/query", params={"query": 'up{job="fixwright"}'}, timeout=5
                ).json()
            except (httpx.TransportError, ValueError):
                return False
            results = answer.get("data", {}).get("result", [])
            return bool(results) and results[0]["value"][1] == "1"

        try:
            wait_for(scraped, 90)
        except AssertionError:
            raise AssertionError(f"Prometheus did not scrape the service:\n{logs()}") from None
