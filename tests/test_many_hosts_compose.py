"""deploy/docker-compose.many-hosts.yml brought up: PostgreSQL built from Debian's package, one web
node and two worker nodes from the service image. The web node counts both workers alive, a
worker node answers nothing but health and metrics, and a delivery to the web node is answered
by a worker.

The copy differs from the example only where the test must: the nodes on the host's network
(where the fake GitHub listens) each on a port of its own, PostgreSQL published on loopback for
them, and the data directories under a temporary one (still the same path inside and outside).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.container import AGENT_UID
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, WEBHOOK_SECRET, FakeGitHub
from tests.fakes.github.webhooks import delivery_headers
from tests.fixtures.service import free_port
from tests.fixtures.service_image import ENGINE_SOCKET, ROOT, SERVICE_IMAGE
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

COMPOSE_FILE = "docker-compose.many-hosts.yml"
NODES = ("web", "worker-1", "worker-2")
DATA = "/var/lib/fixwright"


@pytest.fixture
def data_root() -> Iterator[Path]:
    """Short host paths owned by uid 1000 (the image's user), one directory per node."""
    root = Path(tempfile.mkdtemp(prefix="fw-many-", dir="/tmp"))
    for path in (root, *(root / node for node in NODES)):
        path.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, AGENT_UID, AGENT_UID)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def compose(project: str, deploy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-p", project, "-f", COMPOSE_FILE, *args],
        cwd=deploy,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def copy_of_deploy(root: Path, fake_github: FakeGitHub) -> Path:
    """deploy/ under `root` with the App's settings in ../.env (the key on one line, `\\n` for
    its line breaks) and the compose file's own .env as its comment says."""
    deploy = root / "deploy"
    shutil.copytree(ROOT / "deploy", deploy)
    settings = fake_github.environment()
    settings["FIXWRIGHT_PRIVATE_KEY"] = (
        settings["FIXWRIGHT_PRIVATE_KEY"].strip().replace("\n", "\\n")
    )
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    (deploy / ".env").write_text(
        f"POSTGRES_PASSWORD={uuid.uuid4().hex}\n"
        f"DOCKER_GID={ENGINE_SOCKET.stat().st_gid}\n"
        f"FIXWRIGHT_IMAGE={SERVICE_IMAGE}\n"
    )
    return deploy


def for_this_host(deploy: Path, data_root: Path) -> dict[str, str]:
    """Move the copy's nodes to the host's network and its data under `data_root`; the URL of
    each node."""
    path = deploy / COMPOSE_FILE
    definition = yaml.safe_load(path.read_text())
    services: dict[str, Any] = definition["services"]
    database = free_port()
    services["postgres"]["ports"] = [f"127.0.0.1:{database}:5432"]
    urls = {}
    for node in NODES:
        service = services[node]
        port = free_port()
        service.pop("ports", None)
        service["network_mode"] = "host"
        env = {
            key: str(value).replace(DATA, str(data_root))
            for key, value in service["environment"].items()
        }
        env["FIXWRIGHT_STORE_URL"] = env["FIXWRIGHT_STORE_URL"].replace(
            "@postgres:5432", f"@127.0.0.1:{database}"
        )
        env.update(FIXWRIGHT_HOST="127.0.0.1", FIXWRIGHT_PORT=str(port))
        service["environment"] = env
        service["volumes"] = [v.replace(DATA, str(data_root)) for v in service["volumes"]]
        urls[node] = f"http://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(definition))
    return urls


@contextmanager
def brought_up(deploy: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    project = f"fwmany{uuid.uuid4().hex[:8]}"
    try:
        started = compose(project, deploy, "up", "-d", "--no-build")
        assert started.returncode == 0, started.stdout + started.stderr
        yield lambda *args: compose(project, deploy, *args)
    finally:
        compose(project, deploy, "down", "-v", "--remove-orphans")


def workers_message(url: str) -> str:
    try:
        answer = httpx.get(url + "/health", timeout=2).json()
    except (httpx.TransportError, ValueError):
        return ""
    return str(answer["components"]["workers"]["message"])


def test_the_many_hosts_example_runs_a_web_node_and_two_worker_nodes_on_postgresql(
    service_image: str, compose_root: Path, data_root: Path, fake_github: FakeGitHub
) -> None:
    del service_image
    deploy = copy_of_deploy(compose_root, fake_github)
    checked = compose("fwmany", deploy, "config", "--quiet")  # the example as shipped
    assert checked.returncode == 0, checked.stderr
    built = compose("fwmany", deploy, "build", "postgres")
    assert built.returncode == 0, built.stdout + built.stderr
    urls = for_this_host(deploy, data_root)

    with brought_up(deploy) as run:
        web = urls["web"]
        try:
            wait_for(lambda: workers_message(web).startswith("2 worker processes alive"), 180)
        except AssertionError:
            raise AssertionError(run("logs", "--no-color").stdout) from None
        assert workers_message(web) == "2 worker processes alive elsewhere, 4 workers, 0 busy"
        listed = json.loads(run("exec", "-T", "web", "fixwright", "workers", "--json").stdout)
        assert sorted(w["status"] for w in listed) == ["alive", "alive"]

        worker = urls["worker-1"]
        assert httpx.get(worker + "/health", timeout=5).status_code == 200
        assert httpx.get(worker + "/v1/tasks", timeout=5).status_code == 404

        body = json.dumps(comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help")).encode()
        headers = delivery_headers("issue_comment", body, WEBHOOK_SECRET, str(uuid.uuid4()))
        assert (
            httpx.post(web + "/webhooks/github", content=body, headers=headers).status_code == 202
        )
        replies = lambda: [  # noqa: E731
            c for c in fake_github.state.issue_comments(REPOSITORY, 1) if "fixwright:help" in c.body
        ]
        try:
            wait_for(replies, 60)
        except AssertionError:
            raise AssertionError(run("logs", "--no-color").stdout) from None
