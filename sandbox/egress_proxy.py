"""A job's allow-list proxy: tinyproxy in a container of its own, the only way out of an internal
network made for the job.

The network is `internal` (Docker routes nothing out of it) and its bridge has no address on the
host (`inhibit_ipv4`), so a container on it reaches neither the internet nor the host's own
services: only the proxy, which sits on that network and on the default bridge, and forwards to
the hosts of its filter. What it refused is read from its log when the job's phase ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from sandbox.container import INSTANCE_LABEL, JOB_LABEL, ROLE_LABEL, remove_container
from sandbox.egress import (
    PROXY_ALIAS,
    PROXY_PORT,
    filter_file,
    proxy_config,
    proxy_environment,
    refused_hosts,
)

EGRESS_ROLE = "egress"
READY_SECONDS = 20.0
# The proxy's port in /proc/net/tcp, listening (state 0A), on any address.
LISTENING = f":{PROXY_PORT:04X} 00000000:0000 0A"


@dataclass(frozen=True)
class EgressSpec:
    """One job's egress: the proxy image, the hosts it lets through, and the labels it carries."""

    image: str
    allowlist: tuple[str, ...]
    job_id: str
    instance: str
    phase: str = "setup"  # or "agent": a job may have one of each, one after the other


@dataclass
class Egress:
    """The internal network a job's container joins, and what to tell that container."""

    network: str
    environment: dict[str, str]
    refused: list[str] = field(default_factory=list)  # filled in when the proxy stops


def network_name(spec: EgressSpec) -> str:
    return f"fixwright-egress-{spec.phase}-{spec.job_id}"[:64]


def _labels(spec: EgressSpec) -> dict[str, str]:
    return {JOB_LABEL: spec.job_id, ROLE_LABEL: EGRESS_ROLE, INSTANCE_LABEL: spec.instance}


# The configuration arrives in the environment and is written to the container's own /tmp (its
# root filesystem is read-only), then tinyproxy replaces the shell.
START_SCRIPT = (
    'printf "%s" "$FIXWRIGHT_PROXY_CONFIG" > /tmp/tinyproxy.conf'
    ' && printf "%s" "$FIXWRIGHT_PROXY_FILTER" > /tmp/filter'
    " && exec tinyproxy -d -c /tmp/tinyproxy.conf"
)


def _start(client: docker.DockerClient, spec: EgressSpec) -> tuple[Network, Container]:
    network = client.networks.create(
        network_name(spec),
        driver="bridge",
        internal=True,
        options={"com.docker.network.bridge.inhibit_ipv4": "true"},
        labels=_labels(spec),
    )
    proxy: Container | None = None
    try:
        proxy = client.containers.create(
            spec.image,
            name=f"{network_name(spec)}-proxy"[:128],
            entrypoint=["/bin/sh", "-c", START_SCRIPT],
            command=[],
            environment={
                "FIXWRIGHT_PROXY_CONFIG": proxy_config("/tmp/filter"),  # noqa: S108 - its own
                "FIXWRIGHT_PROXY_FILTER": filter_file(spec.allowlist),
            },
            network="bridge",
            labels=_labels(spec),
            user="65534:65534",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=16m"},  # noqa: S108 - the container's own
            mem_limit="128m",
            pids_limit=128,
            init=True,
        )
        network.connect(proxy, aliases=[PROXY_ALIAS])
        proxy.start()
        _wait_until_listening(proxy)
    except BaseException:
        _stop(network, proxy)
        raise
    return network, proxy


def _wait_until_listening(proxy: Container) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        result = proxy.exec_run(["cat", "/proc/net/tcp"], user="65534")
        output = result.output if isinstance(result.output, bytes) else b""
        if result.exit_code == 0 and LISTENING in output.decode(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the egress proxy did not listen within {READY_SECONDS:.0f} s")


def _stop(network: Network, proxy: Container | None) -> str:
    """Remove the proxy (its log first) and the network; the log's text."""
    log = ""
    if proxy is not None:
        try:
            log = proxy.logs().decode(errors="replace")
        except (NotFound, APIError):
            log = ""
        remove_container(proxy)
    with suppress(NotFound):
        network.remove()
    return log


@asynccontextmanager
async def egress_proxy(client: docker.DockerClient, spec: EgressSpec) -> AsyncIterator[Egress]:
    """The job's proxy and network for as long as the block runs; then both are removed and
    `Egress.refused` holds what the proxy refused."""
    network, proxy = await asyncio.to_thread(_start, client, spec)
    egress = Egress(network=network.name or network_name(spec), environment=proxy_environment())
    try:
        yield egress
    finally:
        log = await asyncio.to_thread(_stop, network, proxy)
        egress.refused = refused_hosts(log)
