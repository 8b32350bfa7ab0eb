"""Workers on several Docker engines sharing one store: jobs spread over the engines, and each
worker reaps only its own engine's orphans, never another deployment's containers nor another
live worker's.

The second engine is the one `tests/setup.sh` starts on its own socket; the pools are the
service's own `WorkerPool`s in this process, each with its engine's client and sandbox, on the
store of one in-process engine, running a kind of the test's own whose handler does one real,
read-only sandbox run against the scripted model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import NotFound
from docker.models.containers import Container

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.github_connect import connect_with
from app.metrics import create_metrics
from app.routing import Registry
from app.sandbox_service import ServiceSandbox, engine_name, open_sandbox, reap_orphans
from app.store import Job, JobState
from app.worker import WorkerPool
from handlers import build_registry
from sandbox.container import INSTANCE_LABEL, JOB_LABEL, OWNER_LABEL, ROLE, ROLE_LABEL, RunSpec
from sandbox.egress_proxy import EgressSpec, egress_proxy
from sandbox.host_workspaces import HostWorkspaces
from sandbox.orphans import Leftover, engine_now, is_orphan
from sandbox.runner import Outcome
from sandbox.workspace import copy_repository
from tests.fixtures.engines import copy_image
from tests.fixtures.environments import MARKER, PackageIndex, bridge_gateway
from tests.fixtures.inprocess import Engine, EngineFactory
from tests.fixtures.sandbox import make_repository
from tests.test_environments import run_in
from tests.test_worker import command, throwaway_kind
from tests.waiting import wait_until

ANOTHER_DEPLOYMENT = "another-deployment"


# -- naming the engine --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "name"),
    [
        ({}, "unix:///var/run/docker.sock"),
        (
            {"DOCKER_HOST": "unix:///run/fixwright-docker2.sock"},
            "unix:///run/fixwright-docker2.sock",
        ),
        ({"DOCKER_HOST": "tcp://engine-2.internal:2376"}, "tcp://engine-2.internal:2376"),
        ({"DOCKER_HOST": "tcp://user:s3cret@engine-2:2376/v1?token=x"}, "tcp://engine-2:2376"),
        ({"DOCKER_HOST": "ssh://deploy:s3cret@engine-3"}, "ssh://engine-3"),
        ({"DOCKER_HOST": "engine-4:2375"}, "tcp://engine-4:2375"),
        ({"DOCKER_HOST": "tcp://[fd00::5]:2376"}, "tcp://[fd00::5]:2376"),
        (
            {
                "DOCKER_HOST": "tcp://10.0.0.5:2376",
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": "/etc/fixwright/engine-certs",
            },
            "tcp://10.0.0.5:2376",
        ),
    ],
)
def test_the_engine_is_named_as_docker_host_says_without_credentials(
    environment: dict[str, str], name: str
) -> None:
    """The registry's engine name is DOCKER_HOST's scheme, host and port (or socket path): no
    user, password, query or certificate path ever shows."""
    assert engine_name(environment) == name
    assert "s3cret" not in engine_name(environment)
    assert "certs" not in engine_name(environment)


# -- the reaper's rule --------------------------------------------------------------------------


def leftover(job_id: str, created: float, owner: str | None = None) -> Leftover:
    return Leftover(job_id=job_id, owner=owner, created=created, remove=lambda: None)


def test_only_what_no_live_job_uses_is_an_orphan() -> None:
    """Old enough and its job not running, or running under another lease owner: an orphan.
    Young, or its job running under its owner (or under an owner unknown to either), never."""
    now, grace = 1_000.0, 30.0
    running = {"live": "host-a:1/0", "unowned": None}
    assert is_orphan(leftover("dead", now - 31), running, now, grace)
    assert not is_orphan(leftover("dead", now - 29), running, now, grace)  # just made
    assert not is_orphan(leftover("live", now - 300, "host-a:1/0"), running, now, grace)
    assert is_orphan(leftover("live", now - 300, "host-b:7/1"), running, now, grace)
    assert not is_orphan(leftover("live", now - 300), running, now, grace)  # a proxy, a network
    assert not is_orphan(leftover("unowned", now - 300, "host-b:7/1"), running, now, grace)


# -- the engines (`second_docker_client`: tests/fixtures/engines.py) ----------------------------


@dataclass
class Probe:
    """The test kind's handler: one read-only run in the sandbox of the pool that leased the
    job, then whatever the test wants done before the job ends."""

    source: Path
    copies: Path
    then: Callable[[], Awaitable[None]] | None = None
    outcomes: list[Outcome] | None = None

    async def __call__(self, event: WebhookEvent, context: Context) -> str:
        del event
        assert context.sandbox is not None
        parent = self.copies / context.job.id
        parent.mkdir(parents=True)
        workspace = copy_repository(self.source, parent)
        result = await context.sandbox.run(
            RunSpec(
                job_id=context.job.id, workspace=workspace.path, prompt="Say done.", read_only=True
            )
        )
        if self.outcomes is not None:
            self.outcomes.append(result.outcome)
        if self.then is not None:
            await self.then()
        return result.summary


@dataclass
class Node:
    """One worker process's share: its engine and the pool that runs jobs on it."""

    client: docker.DockerClient
    pool: WorkerPool
    sandbox: ServiceSandbox


@dataclass
class Cluster:
    engine: Engine  # the store, intake and fake GitHub all nodes share
    settings: Settings
    probe: Probe
    stack: contextlib.AsyncExitStack
    started: list[WorkerPool]

    async def node(self, client: docker.DockerClient, **overrides: Any) -> Node:
        """A worker pool (not started) on `client`'s engine and the shared store."""
        settings = replace(self.settings, **overrides)
        sandbox = await self.stack.enter_async_context(
            open_sandbox(settings, client, store=self.engine.store)
        )
        pool = WorkerPool(
            settings=settings,
            store=self.engine.store,
            registry=self.engine.registry,
            connect=connect_with(settings),
            metrics=create_metrics(),
            workspaces=HostWorkspaces(Path(settings.state_dir) / "workspaces"),
            sandbox_for=sandbox.with_settings,
            docker_client=client,
        )
        return Node(client, pool, sandbox)

    async def start(self, node: Node) -> None:
        """Start the pool: it reaps its engine's orphans, then its workers lease jobs."""
        self.started.append(node.pool)
        await node.pool.start()

    async def queue(self, *numbers: int) -> list[str]:
        """A probe job on each issue; their ids."""
        jobs = []
        for number in numbers:
            answer = await self.engine.deliver("issue_comment", command("/probe", number))
            assert answer.body.get("status") == "queued", answer.body
            jobs += answer.body["jobs"]
        return jobs

    async def job(self, job_id: str) -> Job:
        job = await self.engine.store.get_job(job_id)
        assert job is not None
        return job


@pytest.fixture
async def cluster(
    make_engine: EngineFactory, fake_model: Any, sandbox_image: str, short_dir: Path
) -> AsyncIterator[Cluster]:
    probe = Probe(make_repository(short_dir / "source"), short_dir / "copies")
    registry = Registry([*build_registry().kinds.values(), throwaway_kind("probe", probe)])
    engine = await make_engine(registry=registry)
    settings = replace(
        engine.settings,
        workers=1,
        poll_interval_seconds=0.05,
        job_lease_seconds=120.0,  # no periodic reaping inside a test: only the one it starts
        anthropic_api_key=fake_model.api_key,
        model_upstream_url=fake_model.url,
        sandbox_image=sandbox_image,
        sandbox_memory="1g",
        sandbox_timeout_seconds=60.0,
        sandbox_orphan_grace_seconds=0.0,
    )
    async with contextlib.AsyncExitStack() as stack:
        made = Cluster(engine, settings, probe, stack, [])
        try:
            yield made
        finally:
            fake_model.api.release_streams()
            for pool in made.started:
                await pool.stop()


def created_sandboxes(client: docker.DockerClient, instance: str, since: float) -> set[str]:
    """The jobs whose sandbox containers this deployment created on `client`'s engine since."""
    events = client.events(
        since=int(since) - 1,
        until=int(engine_now(client)) + 1,
        filters={"type": "container", "event": "create", "label": f"{INSTANCE_LABEL}={instance}"},
        decode=True,
    )
    return {event["Actor"]["Attributes"][JOB_LABEL] for event in events}


def plant(
    client: docker.DockerClient, image: str, job_id: str, instance: str, **labels: str
) -> Container:
    """A running container labelled as a job's sandbox."""
    return client.containers.run(
        image,
        entrypoint=["sleep", "300"],
        labels={ROLE_LABEL: ROLE, JOB_LABEL: job_id, INSTANCE_LABEL: instance, **labels},
        network_mode="none",
        detach=True,
    )


def exists(container: Container) -> bool:
    try:
        container.reload()
    except NotFound:
        return False
    return True


@pytest.fixture
def planted() -> Iterator[list[Container]]:
    """Containers a test plants, removed afterwards whatever became of them."""
    made: list[Container] = []
    yield made
    for container in made:
        with contextlib.suppress(NotFound):
            container.remove(force=True)


@pytest.mark.docker
async def test_jobs_run_on_both_engines_when_both_have_free_capacity(
    cluster: Cluster,
    docker_client: docker.DockerClient,
    second_docker_client: docker.DockerClient,
) -> None:
    """Two pools of one worker each, one per engine: the first job's worker is held after its
    run until the second job's run is over, so the second can only run on the other engine,
    and each engine's own event log shows one sandbox made there."""
    both_ran = asyncio.Event()
    cluster.probe.outcomes = []

    async def hold_until_both_ran() -> None:
        if len(cluster.probe.outcomes or []) >= 2:
            both_ran.set()
        await asyncio.wait_for(both_ran.wait(), timeout=120)

    cluster.probe.then = hold_until_both_ran
    since = engine_now(docker_client)
    first = await cluster.node(docker_client)
    second = await cluster.node(second_docker_client)
    await cluster.start(first)
    await cluster.start(second)
    jobs = await cluster.queue(1, 2)

    async def all_ended() -> bool:
        return all([(await cluster.job(job_id)).finished_at is not None for job_id in jobs])

    await wait_until(all_ended, within=180, interval=0.2)
    assert [(await cluster.job(job_id)).state for job_id in jobs] == [JobState.SUCCEEDED] * 2
    assert cluster.probe.outcomes == [Outcome.SUCCESS, Outcome.SUCCESS]
    instance = cluster.settings.instance_id()
    on_first = created_sandboxes(docker_client, instance, since)
    on_second = created_sandboxes(second_docker_client, instance, since)
    assert len(on_first) == 1 and len(on_second) == 1, (on_first, on_second)
    assert on_first | on_second == set(jobs)


@pytest.mark.docker
async def test_an_orphan_is_reaped_by_its_own_engines_worker_and_another_deployment_never(
    cluster: Cluster,
    docker_client: docker.DockerClient,
    second_docker_client: docker.DockerClient,
    sandbox_image: str,
    planted: list[Container],
) -> None:
    """A container of a job that died, on the second engine, outlives the first engine's
    worker's reaping and is gone after the second's; another deployment's containers, with a job
    no one runs, stay on both engines."""
    instance = cluster.settings.instance_id()
    orphan = plant(second_docker_client, sandbox_image, "job-that-died", instance)
    neighbours = [
        plant(client, sandbox_image, "job-that-died", ANOTHER_DEPLOYMENT)
        for client in (docker_client, second_docker_client)
    ]
    planted += [orphan, *neighbours]

    await cluster.start(await cluster.node(docker_client))
    assert exists(orphan)
    await cluster.start(await cluster.node(second_docker_client))
    assert not exists(orphan)
    for neighbour in neighbours:
        assert exists(neighbour) and neighbour.status == "running"


@pytest.mark.docker
async def test_another_live_workers_containers_are_never_reaped(
    cluster: Cluster,
    fake_model: Any,
    second_docker_client: docker.DockerClient,
    sandbox_image: str,
    planted: list[Container],
) -> None:
    """Two workers share the second engine. While one runs a job, the other's reaping leaves
    that job's sandbox running, and a container made a moment ago for a job its store read did
    not see running; it removes a leftover of the same job from an earlier lease, and, past the
    grace, the young container whose job never ran."""
    instance = cluster.settings.instance_id()
    fake_model.api.hold_streams()
    cluster.probe.outcomes = []
    running = await cluster.node(second_docker_client)
    await cluster.start(running)
    [job_id] = await cluster.queue(1)
    await wait_until(lambda: fake_model.api.held >= 1, within=90, interval=0.1)
    job = await cluster.job(job_id)
    assert job.state is JobState.RUNNING
    [live] = second_docker_client.containers.list(
        filters={"label": [f"{JOB_LABEL}={job_id}", f"{INSTANCE_LABEL}={instance}"]}
    )
    assert live.labels[OWNER_LABEL] == job.lease_owner
    earlier = plant(
        second_docker_client, sandbox_image, job_id, instance, **{OWNER_LABEL: "lost-host:1/0"}
    )
    just_made = plant(second_docker_client, sandbox_image, "job-leased-a-moment-ago", instance)
    planted += [earlier, just_made]

    # Another worker's reaping, with the grace a deployment has by default.
    other = replace(cluster.settings, sandbox_orphan_grace_seconds=30.0)
    removed = await reap_orphans(cluster.engine.store, second_docker_client, other)
    assert removed == []
    assert exists(live) and exists(earlier) and exists(just_made)

    # Past the grace: what no live run uses goes, the live run stays.
    reaper = await cluster.node(second_docker_client)
    await cluster.start(reaper)
    assert exists(live) and live.status == "running"
    assert not exists(earlier) and not exists(just_made)

    fake_model.api.release_streams()

    async def succeeded() -> bool:
        return (await cluster.job(job_id)).state is JobState.SUCCEEDED

    await wait_until(succeeded, within=120, interval=0.2)
    assert cluster.probe.outcomes == [Outcome.SUCCESS]


@pytest.mark.docker
async def test_the_egress_proxy_works_on_the_second_engine(
    docker_client: docker.DockerClient,
    second_docker_client: docker.DockerClient,
    sandbox_image: str,
    egress_image: str,
    package_index: PackageIndex,
) -> None:
    """On the second engine's own bridge the job's proxy reaches the host's served index, and a
    container on the job's internal network reaches it only through the proxy."""
    copy_image(docker_client, second_docker_client, egress_image)
    host = bridge_gateway(second_docker_client)
    url = package_index.url.replace(package_index.host, host)
    job_id = f"engine-2-route-{time.monotonic_ns()}"
    spec = EgressSpec(egress_image, (host,), job_id, "engines-test")
    async with egress_proxy(second_docker_client, spec) as session:
        output = run_in(
            second_docker_client,
            sandbox_image,
            f"curl -fsS {url}/{MARKER}; "
            f"curl -sS --noproxy '*' --max-time 5 {url}/{MARKER} || echo NO-ROUTE-HOST",
            network=session.network,
            environment=session.environment,
        )
    assert "fetched through the proxy" in output
    assert "NO-ROUTE-HOST" in output
    assert session.refused == []
