"""The service's side of environments: the sandbox's settings for a set-up, the cache on this
node's engine, the agent's network when the operator allows it, and what is counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import docker

from app.config import Settings
from app.environments import operator_allowlist
from app.log import get_logger
from app.metrics import Metrics
from sandbox.egress import narrowed
from sandbox.egress_proxy import EgressSpec, egress_proxy
from sandbox.environment import EnvironmentCache, EnvironmentFailed, Prepared, prepare_environment
from sandbox.environment_spec import EnvironmentSpec, SetupLimits


def setup_limits(settings: Settings) -> SetupLimits:
    """The set-up container gets the sandbox's limits and a time of its own."""
    return SetupLimits(
        memory=settings.sandbox_memory,
        cpus=settings.sandbox_cpus,
        pids=settings.sandbox_pids,
        timeout_seconds=settings.environment_setup_timeout_seconds,
        runtime=settings.sandbox_runtime,
        instance=settings.instance_id(),
    )


def environment_cache(client: docker.DockerClient, settings: Settings) -> EnvironmentCache:
    """The prepared environments on this engine; their last use kept under the state directory."""
    return EnvironmentCache(
        client=client,
        directory=(Path(settings.state_dir) / "environments").resolve(),
        max_images=settings.environment_cache_max_images,
        instance=settings.instance_id(),
    )


def extra_ca(settings: Settings) -> bytes | None:
    """The operator's extra CA bundle, for TLS through an intercepting network."""
    return Path(settings.sandbox_ca_bundle).read_bytes() if settings.sandbox_ca_bundle else None


def count_refusals(metrics: Metrics | None, phase: str, refused: list[str], job_id: str) -> None:
    """Each refused connection is logged with the job and counted."""
    for host in refused:
        get_logger(job_id=job_id).warning("egress.refused", phase=phase, host=host)
    if metrics is not None and refused:
        metrics.egress_refusals.labels(phase=phase).inc(len(refused))


async def prepare_for_job(
    client: docker.DockerClient,
    settings: Settings,
    metrics: Metrics | None,
    spec: EnvironmentSpec,
    *,
    allowlist: tuple[str, ...],
    job_id: str,
    checkout: Path,
) -> Prepared:
    """Prepare (or find in the cache) a job's environment, counting how it went."""
    ca_bundle = await asyncio.to_thread(extra_ca, settings)
    egress = EgressSpec(settings.egress_image, allowlist, job_id, settings.instance_id())
    try:
        prepared = await prepare_environment(
            client,
            spec,
            job_id=job_id,
            checkout=checkout,
            egress=egress,
            limits=setup_limits(settings),
            ca_bundle=ca_bundle,
            cache=environment_cache(client, settings),
        )
    except EnvironmentFailed as failure:
        count_refusals(metrics, "setup", failure.refused, job_id)
        if metrics is not None:
            metrics.environments.labels(outcome="failed").inc()
        raise
    count_refusals(metrics, "setup", prepared.refused, job_id)
    if metrics is not None:
        metrics.environments.labels(outcome="cached" if prepared.cache_hit else "prepared").inc()
        if not prepared.cache_hit:
            metrics.environment_seconds.observe(prepared.seconds)
    return prepared


def agent_allowlist(settings: Settings) -> tuple[str, ...]:
    """The agent's hosts when it may use the proxy: the operator's, narrowed by the repository."""
    operator = operator_allowlist(settings)
    config = settings.repo_environment
    if config is None or config.allow_hosts is None:
        return operator
    return narrowed(operator, config.allow_hosts)[0]


@asynccontextmanager
async def agent_network(
    client: docker.DockerClient, settings: Settings, metrics: Metrics | None, job_id: str
) -> AsyncIterator[tuple[str | None, tuple[tuple[str, str], ...]]]:
    """(network, its variables) for the agent's container: none at all unless the operator set
    `FIXWRIGHT_AGENT_EGRESS=allowlist`, then the job's own proxy for the run's length."""
    if settings.agent_egress != "allowlist":
        yield None, ()
        return
    hosts = await asyncio.to_thread(agent_allowlist, settings)
    egress = EgressSpec(settings.egress_image, hosts, job_id, settings.instance_id(), "agent")
    async with egress_proxy(client, egress) as session:
        yield session.network, tuple(session.environment.items())
    count_refusals(metrics, "agent", session.refused, job_id)
