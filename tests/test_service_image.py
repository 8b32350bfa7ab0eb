"""The service image (Dockerfile at the top) runs real jobs: built here, started with the engine's
socket and a data directory mounted at the same path, a labelled issue becomes a pull request
from inside it, its HEALTHCHECK reports healthy, and `fixwright doctor` in it finds nothing wrong;
the compose file brings the service up, Prometheus scrapes it, and its service runs a fix too.

The fake GitHub and the scripted model listen on the host's loopback; the container shares the
host's network to reach them, as a service next to a GitHub Enterprise Server on the same host
would.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml
from docker.models.containers import Container
from docker.types import Healthcheck
from docker.utils.build import exclude_paths

from sandbox.container import AGENT_UID
from tests.fakes.github.fixtures import REPOSITORY, WEBHOOK_SECRET, FakeGitHub
from tests.fakes.github.webhooks import delivery_headers
from tests.fakes.model.fixtures import FakeModel
from tests.fixtures.sandbox import host_ca_bundle
from tests.fixtures.service import free_port
from tests.test_fix_loop import BRANCH, FIX, NEW_LINE, OLD_LINE, changed_lines, label_delivery
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
SERVICE_IMAGE = "fixwright-service:test"
ENGINE_SOCKET = Path("/var/run/docker.sock")
JOB_TIMEOUT = 180


def build_context() -> bytes:
    """The build context `docker build .` sends (.dockerignore applied), plus the host's CA
    bundle as extra-ca.crt: this network intercepts TLS, and pip must trust it."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in sorted(exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile")):
            path = ROOT / name
            if path.is_file() and not path.is_symlink():
                info = archive.gettarinfo(str(path), arcname=name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with path.open("rb") as content:
                    archive.addfile(info, content)
        bundle = host_ca_bundle()
        if bundle is not None:
            data = bundle.read_bytes()
            info = tarfile.TarInfo("extra-ca.crt")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def service_image(docker_client: docker.DockerClient, sandbox_image: str) -> str:
    """The service image, built with the engine's layer cache (its Debian base is the one the
    sandbox image's set-up made)."""
    del sandbox_image
    output: list[str] = []
    for chunk in docker_client.api.build(
        fileobj=io.BytesIO(build_context()),
        custom_context=True,
        tag=SERVICE_IMAGE,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        output.append(str(chunk.get("stream") or chunk.get("status") or ""))
        if "error" in chunk:
            pytest.fail(f"the service image did not build: {chunk['error']}\n{''.join(output)}")
    return SERVICE_IMAGE


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short host path (the relay socket's path must fit in 108 bytes) owned by uid 1000,
    the image's user."""
    path = Path(tempfile.mkdtemp(prefix="fw-image-", dir="/tmp"))
    if os.geteuid() == 0:
        os.chown(path, AGENT_UID, AGENT_UID)
    else:
        assert os.geteuid() == AGENT_UID, "the data directory must be writable by uid 1000"
    yield path
    shutil.rmtree(path, ignore_errors=True)


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


def logs_of(container: Container) -> str:
    return container.logs().decode(errors="replace")


def finished_jobs(container: Container) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in logs_of(container).splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "job.finished"]


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


def compose(project: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker-compose", "-p", project, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return result


@pytest.fixture
def compose_directory(fake_github: FakeGitHub, data_dir: Path) -> Iterator[Path]:
    """deploy/ copied beside a .env, with the secrets the compose file mounts, as its comment says
    to make them; only the ports and the data directory differ from the defaults."""
    root = Path(tempfile.mkdtemp(prefix="fw-compose-", dir="/tmp"))
    deploy = root / "deploy"
    shutil.copytree(ROOT / "deploy", deploy)
    token = uuid.uuid4().hex
    settings = {**fake_github.environment(), "FIXWRIGHT_METRICS_TOKEN": token}
    del settings["FIXWRIGHT_PRIVATE_KEY"]
    (root / ".env").write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    (deploy / "secrets").mkdir()
    (deploy / "secrets" / "private-key.pem").write_text(fake_github.private_key)
    (deploy / "secrets" / "metrics-token").write_text(token + "\n")
    for secret in (deploy / "secrets").iterdir():
        secret.chmod(0o644)  # a test key; the containers' users must read it
    (deploy / ".env").write_text(
        f"DOCKER_GID={ENGINE_SOCKET.stat().st_gid}\n"
        f"FIXWRIGHT_DATA_DIR={data_dir}\n"
        f"FIXWRIGHT_IMAGE={SERVICE_IMAGE}\n"
        f"FIXWRIGHT_PUBLISH=127.0.0.1:{free_port()}\n"
        f"PROMETHEUS_PUBLISH={free_port()}\n"
    )
    yield deploy
    shutil.rmtree(root, ignore_errors=True)


def published(deploy: Path, name: str) -> str:
    for line in (deploy / ".env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == name:
            return value
    raise KeyError(name)


def test_the_compose_file_starts_the_service_and_prometheus_scrapes_it(
    service_image: str, compose_directory: Path
) -> None:
    del service_image
    project = f"fwtest{uuid.uuid4().hex[:8]}"
    checked = compose(project, compose_directory, "config", "--quiet")
    assert checked.returncode == 0, checked.stderr
    built = compose(project, compose_directory, "build", "prometheus")
    assert built.returncode == 0, built.stdout + built.stderr
    try:
        started = compose(project, compose_directory, "up", "-d", "--no-build", *COMPOSE_SERVICES)
        assert started.returncode == 0, started.stdout + started.stderr
        service = "http://" + published(compose_directory, "FIXWRIGHT_PUBLISH")
        prometheus = f"http://127.0.0.1:{published(compose_directory, 'PROMETHEUS_PUBLISH')}"

        def healthy() -> bool:
            try:
                return httpx.get(service + "/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

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
            wait_for(healthy, 90)
            wait_for(scraped, 90)
        except AssertionError:
            shown = compose(project, compose_directory, "logs", "--no-color")
            raise AssertionError(f"the compose services did not come up:\n{shown.stdout}") from None
    finally:
        compose(project, compose_directory, "down", "-v", "--remove-orphans")


def test_a_labelled_issue_becomes_a_pull_request_from_the_compose_service(
    service_image: str,
    sandbox_image: str,
    compose_directory: Path,
    fake_github: FakeGitHub,
    fake_model: FakeModel,
) -> None:
    """The compose file's fixwright service as it is (the same-path data directory, the socket and
    its group, the private key's file), with one change: the host's network, where the fake
    GitHub and the scripted model listen."""
    del service_image
    port = free_port()
    with (compose_directory.parent / ".env").open("a") as settings:
        settings.write(
            f"FIXWRIGHT_ANTHROPIC_API_KEY={fake_model.api_key}\n"
            f"FIXWRIGHT_MODEL_UPSTREAM_URL={fake_model.url}\n"
            f"FIXWRIGHT_SANDBOX_IMAGE={sandbox_image}\n"
            "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS=60\n"
            "FIXWRIGHT_WORKERS=1\n"
            "FIXWRIGHT_POLL_INTERVAL_SECONDS=0.2\n"
            f"FIXWRIGHT_PORT={port}\n"
        )
    # The host's network: the copy's service loses its published port (compose cannot remove a
    # list entry in an override file), and listens on loopback there.
    compose_file = compose_directory / "docker-compose.yml"
    definition = yaml.safe_load(compose_file.read_text())
    service = definition["services"]["fixwright"]
    del service["ports"]
    service["network_mode"] = "host"
    service["environment"]["FIXWRIGHT_HOST"] = "127.0.0.1"
    compose_file.write_text(yaml.safe_dump(definition))
    files = ("-f", "docker-compose.yml")
    project = f"fwtest{uuid.uuid4().hex[:8]}"
    try:
        started = compose(project, compose_directory, *files, "up", "-d", "--no-build", "fixwright")
        assert started.returncode == 0, started.stdout + started.stderr
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(url + "/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        def logs() -> str:
            return compose(project, compose_directory, *files, "logs", "--no-color").stdout

        try:
            wait_for(healthy, 90)
        except AssertionError:
            raise AssertionError(f"the service did not come up:\n{logs()}") from None
        fake_model.set_scenario(FIX)
        body = json.dumps(label_delivery(fake_github)).encode()
        headers = delivery_headers("issues", body, WEBHOOK_SECRET)
        answer = httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=30)
        assert answer.status_code == 202
        try:
            [pull] = wait_for(lambda: list(fake_github.state.pulls.values()), JOB_TIMEOUT)
        except AssertionError:
            raise AssertionError(f"no pull request:\n{logs()}") from None
        assert (pull.draft, pull.head) == (True, BRANCH)
    finally:
        compose(project, compose_directory, *files, "down", "-v", "--remove-orphans")
