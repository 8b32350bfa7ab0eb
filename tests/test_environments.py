"""Environments on the real engine: set-up behind the job's allow-list proxy, the cache, a
repository's Dockerfile, and an agent that still has no network."""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest

from app.config import Settings
from app.environment_service import prepare_for_job
from app.metrics import create_metrics
from app.sandbox_service import ServiceSandbox
from sandbox.container import RunSpec
from sandbox.egress_proxy import EgressSpec, egress_proxy
from sandbox.environment import EnvironmentCache, EnvironmentFailed, Prepared, prepare_environment
from sandbox.environment_spec import EnvironmentSpec, SetupLimits
from sandbox.runner import Outcome
from sandbox.workspace import copy_repository
from tests.fakes.model.scenario import Scenario
from tests.fixtures.environments import MARKER, PackageIndex
from tests.fixtures.sandbox import make_repository

pytestmark = pytest.mark.docker

LIMITS = SetupLimits("1g", 1.0, 256, 300, "runc", "environment-tests")
CANARY = "sk-ant-canary-" + "0" * 24


def install_pytest(index: PackageIndex) -> tuple[str, ...]:
    """Set-up commands that fetch pip's wheel and install pytest, all from the served index."""
    return (
        f"curl -fsS {index.wheel('pip')} -o /tmp/pip.whl",
        "python3 /tmp/pip.whl/pip install --quiet --user --break-system-packages --no-index "
        f"--trusted-host {index.host} --find-links {index.url}/ pytest",
        "env > $HOME/setup-environment.txt",
    )


def spec(sandbox_image: str, setup: tuple[str, ...], **changes: Any) -> EnvironmentSpec:
    values: dict[str, Any] = {
        "base_image": sandbox_image,
        "dockerfile": None,
        "context_tar": None,
        "setup": setup,
        "key_material": (("requirements.txt", uuid.uuid4().hex),),  # a fresh key per test
        "tools_image": sandbox_image,
        "description": ".github/fixwright.yml",
    }
    return EnvironmentSpec(**{**values, **changes})


async def prepare(
    client: docker.DockerClient,
    wanted: EnvironmentSpec,
    egress_image: str,
    allowlist: tuple[str, ...],
    tmp_path: Path,
    cache: EnvironmentCache,
) -> Prepared:
    checkout = tmp_path / "checkout"
    checkout.mkdir(exist_ok=True)
    job_id = f"env-test-{uuid.uuid4().hex[:8]}"
    return await prepare_environment(
        client,
        wanted,
        job_id=job_id,
        checkout=checkout,
        egress=EgressSpec(egress_image, allowlist, job_id, LIMITS.instance),
        limits=LIMITS,
        ca_bundle=None,
        cache=cache,
    )


def run_in(client: docker.DockerClient, image: str, command: str, **options: Any) -> str:
    """A command in a container from `image`, as the agent's user, with no network unless
    `options` name one."""
    network = {} if "network" in options else {"network_mode": "none"}
    output = client.containers.run(
        image,
        ["sh", "-c", command],
        entrypoint=[],
        user="1000:1000",
        remove=True,
        **network,
        **options,
    )
    return bytes(output).decode()


@pytest.fixture
def cache(docker_client: docker.DockerClient, tmp_path: Path) -> Any:
    made = EnvironmentCache(docker_client, tmp_path / "cache", 50, LIMITS.instance)
    yield made
    for key, _, _ in made.entries():
        if (made.directory / key).exists():
            made.prune(0)
            break


async def test_set_up_installs_through_the_proxy_and_a_second_job_finds_it_cached(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
    tmp_path: Path,
    cache: EnvironmentCache,
) -> None:
    """pytest comes from the served index through the proxy; the same key later runs no set-up."""
    wanted = spec(sandbox_image, install_pytest(package_index))
    first = await prepare(
        docker_client, wanted, egress_image, (package_index.host,), tmp_path, cache
    )
    assert not first.cache_hit and first.refused == []
    assert "pytest 8." in run_in(docker_client, first.image, "python3 -m pytest --version 2>&1")

    since = int(time.time()) - 1
    second = await prepare(
        docker_client, wanted, egress_image, (package_index.host,), tmp_path, cache
    )
    until = int(time.time()) + 1
    assert second.cache_hit and second.image == first.image
    created = docker_client.events(
        since=since, until=until, decode=True, filters={"type": "container", "event": "create"}
    )
    roles = [event["Actor"]["Attributes"].get("fixwright.role") for event in created]
    assert "setup" not in roles and "egress" not in roles


async def test_a_host_off_the_list_is_refused_logged_and_counted(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
    tmp_path: Path,
) -> None:
    """The set-up fails naming the host; the metric counts it; the served host stays reachable."""
    settings = Settings(
        sandbox_image=sandbox_image,
        egress_image=egress_image,
        state_dir=str(tmp_path / "state"),
        sandbox_memory="1g",
    )
    metrics = create_metrics()
    wanted = spec(
        sandbox_image,
        (
            f"curl -fsS {package_index.url}/{MARKER}",
            "curl -fsS --max-time 20 http://example.com/",
        ),
    )
    with pytest.raises(EnvironmentFailed) as failed:
        await prepare_for_job(
            docker_client,
            settings,
            metrics,
            wanted,
            allowlist=(package_index.host,),
            job_id=f"env-refused-{uuid.uuid4().hex[:8]}",
            checkout=tmp_path,
        )
    assert failed.value.refused == ["example.com"]
    assert "fixwright setup [2/2]" in failed.value.reason
    assert (
        metrics.registry.get_sample_value("fixwright_egress_refusals_total", {"phase": "setup"})
        == 1
    )
    assert (
        metrics.registry.get_sample_value("fixwright_environments_total", {"outcome": "failed"})
        == 1
    )


async def test_the_internal_network_reaches_neither_the_host_nor_anything_but_the_proxy(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
) -> None:
    """Through the proxy the served host answers; directly, neither it nor the internet does."""
    job_id = f"env-route-{uuid.uuid4().hex[:8]}"
    egress = EgressSpec(egress_image, (package_index.host,), job_id, LIMITS.instance)
    async with egress_proxy(docker_client, egress) as session:
        output = run_in(
            docker_client,
            sandbox_image,
            f"curl -fsS {package_index.url}/{MARKER}; "
            f"curl -sS --noproxy '*' --max-time 5 {package_index.url}/{MARKER} || echo NO-ROUTE-HOST; "
            "curl -sS --noproxy '*' --max-time 5 http://example.com/ || echo NO-ROUTE-OUT",
            network=session.network,
            environment=session.environment,
        )
    assert "fetched through the proxy" in output
    assert "NO-ROUTE-HOST" in output and "NO-ROUTE-OUT" in output
    assert session.refused == []
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(session.network)


async def test_a_repository_dockerfile_builds_its_run_steps_through_the_proxy(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
    tmp_path: Path,
    cache: EnvironmentCache,
) -> None:
    """A devcontainer's Dockerfile on a local image: its `RUN` fetches from the allowed host only."""
    context = dockerfile_context(
        f"FROM {sandbox_image}\nUSER root\n"
        f"RUN curl -fsS {package_index.url}/{MARKER} -o /opt/marker\nUSER agent\n"
    )
    wanted = spec(
        sandbox_image,
        ("echo ready > $HOME/ready",),
        base_image=None,
        dockerfile="Dockerfile",
        context_tar=context,
        description=".devcontainer/devcontainer.json",
    )
    prepared = await prepare(
        docker_client, wanted, egress_image, (package_index.host,), tmp_path, cache
    )
    assert run_in(docker_client, prepared.image, "cat /opt/marker $HOME/ready") == (
        "fetched through the proxy\nready\n"
    )

    blocked = spec(
        sandbox_image,
        (),
        base_image=None,
        dockerfile="Dockerfile",
        context_tar=dockerfile_context(
            f"FROM {sandbox_image}\nRUN curl -fsS --max-time 20 http://example.com/ -o /tmp/x\n"
        ),
    )
    with pytest.raises(EnvironmentFailed) as failed:
        await prepare(docker_client, blocked, egress_image, (package_index.host,), tmp_path, cache)
    assert failed.value.refused == ["example.com"]


def dockerfile_context(dockerfile: str) -> bytes:
    """A build context holding only this Dockerfile."""
    data = dockerfile.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_no_secret_reaches_the_set_up_or_the_proxy(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
    tmp_path: Path,
    cache: EnvironmentCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's secrets, planted in its own environment, appear in neither container."""
    for name in ("FIXWRIGHT_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN"):
        monkeypatch.setenv(name, CANARY)
    wanted = spec(sandbox_image, ("env > $HOME/setup-environment.txt",))
    prepared = await prepare(
        docker_client, wanted, egress_image, (package_index.host,), tmp_path, cache
    )
    seen = run_in(docker_client, prepared.image, "cat $HOME/setup-environment.txt")
    assert "HTTPS_PROXY=http://egress-proxy:8888" in seen
    assert CANARY not in seen and "FIXWRIGHT" not in seen
    image = docker_client.images.get(prepared.image).attrs["Config"]
    assert not any("PROXY" in variable for variable in image["Env"]), image["Env"]

    job_id = f"env-canary-{uuid.uuid4().hex[:8]}"
    egress = EgressSpec(egress_image, (package_index.host,), job_id, LIMITS.instance)
    async with egress_proxy(docker_client, egress) as session:
        proxy = docker_client.containers.get(f"fixwright-egress-setup-{job_id}-proxy")
        environment = proxy.attrs["Config"]["Env"]
        assert session.network
    assert not any(CANARY in variable for variable in environment)


async def test_the_agent_uses_what_set_up_installed_and_still_has_no_network(
    docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
    tmp_path: Path,
    cache: EnvironmentCache,
    fake_model: Any,
    run_sandbox: Any,
) -> None:
    """The real CLI in the prepared image runs the installed pytest; the index is out of reach."""
    prepared = await prepare(
        docker_client,
        spec(sandbox_image, install_pytest(package_index)),
        egress_image,
        (package_index.host,),
        tmp_path,
        cache,
    )
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.run("python3 -m pytest --version"),
                Scenario.run(f"curl -sS --max-time 5 {package_index.url}/{MARKER} || echo NO-NET"),
                Scenario.say("Checked."),
            ]
        )
    )
    run = await run_sandbox("Check the tools.", image=prepared.image)

    assert run.result.outcome is Outcome.SUCCESS
    results = [event.content for event in run.events if type(event).__name__ == "ToolResult"]
    assert any("pytest 8." in text for text in results), results
    assert any("NO-NET" in text for text in results), results


async def test_an_operator_may_let_the_agent_through_the_proxy_and_no_further(
    docker_client: docker.DockerClient,
    sandbox_relay: Any,
    sandbox_settings: Settings,
    egress_image: str,
    package_index: PackageIndex,
    fake_model: Any,
    short_dir: Path,
) -> None:
    """`FIXWRIGHT_AGENT_EGRESS=allowlist`: the served host answers, another is refused and counted."""
    settings = replace(
        sandbox_settings,
        agent_egress="allowlist",
        egress_image=egress_image,
        egress_allowlist=(package_index.host,),
    )
    metrics = create_metrics()
    sandbox = ServiceSandbox(settings, docker_client, sandbox_relay, None, metrics)
    workspace = copy_repository(make_repository(short_dir / "source"), short_dir / "copy")
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.run(f"curl -fsS --max-time 10 {package_index.url}/{MARKER}"),
                Scenario.run("curl -sS --max-time 10 http://example.com/ || echo REFUSED"),
                Scenario.say("Looked around."),
            ]
        )
    )
    result = await sandbox.run(
        RunSpec(
            job_id=f"agent-egress-{uuid.uuid4().hex[:8]}", workspace=workspace.path, prompt="Go."
        )
    )

    assert result.outcome is Outcome.SUCCESS
    sent = repr([request.body for request in fake_model.api.scenario_requests])
    assert "fetched through the proxy" in sent and "REFUSED" in sent
    assert (
        metrics.registry.get_sample_value("fixwright_egress_refusals_total", {"phase": "agent"})
        == 1
    )
