"""The service's sandbox: the Docker engine and the model relay on a host socket, with each run
held to the quotas and charged to its installation's day."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import docker

from app import task_secrets
from app.config import Settings
from app.environment_service import agent_network, prepare_for_job
from app.metrics import Metrics
from app.quota_usage import budget_for_run, record_run
from app.retention import mirrors_of, workspaces_of
from app.store.model import Job, JobState, Store
from sandbox.container import RunSpec, SandboxLimits
from sandbox.environment import Prepared
from sandbox.environment_spec import EnvironmentSpec
from sandbox.host_workspaces import HostWorkspaces
from sandbox.orphans import engine_now, list_leftovers, remove_orphaned
from sandbox.relay import ModelRelay
from sandbox.runner import EventCallback, RunResult, run_in_sandbox
from sandbox.stream import StreamEvent, SystemInit
from sandbox.test_output import TestRun
from sandbox.verify_container import VerifySpec
from sandbox.verify_runner import run_verification


def sandbox_limits(settings: Settings) -> SandboxLimits:
    """What every run gets, from the operator's settings (narrowed for the job's repository)."""
    return SandboxLimits(
        image=settings.sandbox_image,
        runtime=settings.sandbox_runtime,
        memory=settings.sandbox_memory,
        cpus=settings.sandbox_cpus,
        pids=settings.sandbox_pids,
        timeout_seconds=settings.sandbox_timeout_seconds,
        max_turns=settings.max_turns,
        model=settings.model,
        token_budget=settings.job_token_budget,
        max_output_tokens=settings.relay_max_tokens,
        max_line_bytes=settings.sandbox_max_line_bytes,
        workspace_max_bytes=settings.workspace_max_bytes,
        workspace_max_files=settings.workspace_max_files,
        instance=settings.instance_id(),
        transcript_max_bytes=settings.sandbox_transcript_max_bytes,
    )


# Where docker-py (and so the service) finds the engine when DOCKER_HOST is not set.
DEFAULT_ENGINE = "unix:///var/run/docker.sock"


def engine_name(environ: Mapping[str, str] | None = None) -> str:
    """The Docker engine this process uses, as an operator would name it: DOCKER_HOST without
    any user, password, path or query (`tcp://host:2376`, `unix:///run/x.sock`); the certificates
    of DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are never part of it."""
    value = (os.environ if environ is None else environ).get("DOCKER_HOST", "").strip()
    if not value:
        return DEFAULT_ENGINE
    if "://" not in value:
        value = "tcp://" + value.lstrip("/")  # docker-py reads "host:port" as tcp
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in {"unix", "npipe"}:
        return f"{scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{scheme}://{host}" + (f":{port}" if port else "")


async def reap_orphans(
    store: Store, docker_client: docker.DockerClient, settings: Settings
) -> list[str]:
    """Remove this deployment's containers and networks on this engine that no live job uses;
    their job ids. The engine is listed before the store is read (sandbox/orphans.py says why)."""
    leftovers = await asyncio.to_thread(list_leftovers, docker_client, settings.instance_id())
    now = await asyncio.to_thread(engine_now, docker_client)
    running = {
        job.id: job.lease_owner for job in await store.list_jobs(JobState.RUNNING, limit=100_000)
    }
    return await asyncio.to_thread(
        remove_orphaned, leftovers, running, now, settings.sandbox_orphan_grace_seconds
    )


def host_workspaces(settings: Settings) -> HostWorkspaces:
    """Job workspaces under `<state dir>/workspaces`, made if missing, cloned through the
    mirrors under `<state dir>/mirrors` unless FIXWRIGHT_GIT_MIRRORS is off."""
    parent = workspaces_of(settings)
    parent.mkdir(parents=True, exist_ok=True)
    return HostWorkspaces(parent, mirrors_of(settings) if settings.git_mirrors else None)


def owner_of(job: Job | None) -> str:
    """The worker holding the job's lease, for its containers' label ("" when unknown)."""
    return (job.lease_owner or "") if job else ""


@dataclass(frozen=True)
class ServiceSandbox:
    """The `Sandbox` seam on this node's engine: one call, the container never outliving it."""

    settings: Settings
    docker_client: docker.DockerClient
    relay: ModelRelay
    # With a store, runs are held to the installation's quotas and charged to its day.
    store: Store | None = None
    metrics: Metrics | None = None

    async def prepare(
        self,
        spec: EnvironmentSpec,
        *,
        allowlist: tuple[str, ...],
        job_id: str,
        checkout: Path,
    ) -> Prepared:
        """The job's environment on this engine (set up behind its proxy, or from the cache)."""
        return await prepare_for_job(
            self.docker_client,
            self.settings,
            self.metrics,
            spec,
            allowlist=allowlist,
            job_id=job_id,
            checkout=checkout,
        )

    def with_settings(self, settings: Settings) -> ServiceSandbox:
        """The same engine and relay under a job's settings (narrowed for its repository)."""
        return replace(self, settings=settings)

    async def run(self, spec: RunSpec, on_event: EventCallback | None = None) -> RunResult:
        """Run the CLI with token budgets from the quotas (its own, and its installation's day,
        shared with the runs going on beside it); charge what the relay counted afterwards."""
        job = await self.store.get_job(spec.job_id) if self.store else None
        installation_id = job.installation_id if job else None
        model = spec.model or self.settings.model
        budget = (
            await budget_for_run(
                self.store,
                self.settings,
                installation_id,
                model,
                job.usage if job else None,
                job_id=spec.job_id,
            )
            if self.store
            else None
        )

        async def watch(event: StreamEvent) -> None:
            nonlocal model
            if isinstance(event, SystemInit) and event.model:
                model = event.model  # the model the CLI really uses, for the price
            if on_event is not None:
                outcome = on_event(event)
                if outcome is not None:
                    await outcome

        if self.metrics:
            self.metrics.running_containers.inc()
        try:
            async with agent_network(
                self.docker_client, self.settings, self.metrics, spec.job_id
            ) as (network, variables):
                result = await run_in_sandbox(
                    replace(spec, network=network, network_environment=variables),
                    replace(sandbox_limits(self.settings), owner=owner_of(job)),
                    docker_client=self.docker_client,
                    relay=self.relay,
                    on_event=watch,
                    # A task's own model key, held in memory only, replaces the operator's.
                    api_key=task_secrets.model_key(spec.job_id),
                    token_budget=budget.tokens if budget else None,
                    pool=budget.pool if budget else None,
                    secrets=self.settings.secret_values() + task_secrets.live_values(),
                )
        finally:
            if self.metrics:
                self.metrics.running_containers.dec()
        if self.store:
            await record_run(
                self.store,
                self.metrics,
                self.settings,
                installation_id,
                model,
                result.usage,
                hold=budget.hold if budget else "",
            )
        return result

    async def verify(self, spec: VerifySpec) -> TestRun:
        """Run the repository's tests on a copy of a tree, in the job's image (the settings' when
        it has none) with the sandbox's limits and no network; nothing is charged."""
        job = await self.store.get_job(spec.job_id) if self.store else None
        if self.metrics:
            self.metrics.running_containers.inc()
        try:
            return await run_verification(
                spec,
                replace(sandbox_limits(self.settings), owner=owner_of(job)),
                docker_client=self.docker_client,
                secrets=self.settings.secret_values() + task_secrets.live_values(),
            )
        finally:
            if self.metrics:
                self.metrics.running_containers.dec()


@asynccontextmanager
async def open_sandbox(
    settings: Settings,
    docker_client: docker.DockerClient,
    *,
    store: Store | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[ServiceSandbox]:
    """Start the model relay (its socket in a short private directory: sun_path is 108 bytes)."""
    socket_dir = Path(tempfile.mkdtemp(prefix="fixwright-relay-"))
    relay = ModelRelay(
        socket_path=socket_dir / "model.sock",
        upstream_url=settings.model_upstream_url,
        api_key=settings.anthropic_api_key,
        on_refusal=(
            (lambda reason: metrics.relay_refusals.labels(reason=reason).inc()) if metrics else None
        ),
        max_body_bytes=settings.relay_max_body_bytes,
        max_in_flight=settings.relay_max_in_flight,
        extra_models=settings.relay_models,
    )
    await relay.start()
    try:
        yield ServiceSandbox(settings, docker_client, relay, store, metrics)
    finally:
        await relay.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
