"""Preparing a job's environment: the base image (pulled, or built from the repository's Dockerfile
behind the job's proxy), fixwright's tools added, the set-up commands run as the agent user behind
the proxy, the result committed and kept as a cache keyed by all of that.

Nothing here holds a secret: the setup and build containers get the proxy's address, the
operator's extra CA certificate, and nothing else.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound, NotFound
from docker.models.containers import Container

from sandbox.container import ROLE_LABEL, remove_container
from sandbox.egress_proxy import Egress, EgressSpec, egress_proxy
from sandbox.environment_spec import (
    ENVIRONMENT_REPOSITORY,
    ENVIRONMENT_ROLE,
    KEY_LABEL,
    EnvironmentSpec,
    SetupLimits,
    cache_key,
    image_tag,
    setup_container_kwargs,
    tools_dockerfile,
)
from sandbox.image import BuildFailed, build_from_context

CA_PATH = "/etc/fixwright/extra-ca.crt"
# Every client that reads one, so that TLS through an intercepting network is trusted by all.
CA_VARIABLES = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "CARGO_HTTP_CAINFO",
)
LOG_TAIL = 4_000
FENCE = "```"

Log = Callable[[str], None]


class EnvironmentFailed(Exception):
    """The environment could not be prepared: why, in words, and what to do about it."""

    def __init__(self, reason: str, next_step: str, refused: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.next_step = next_step
        self.refused = refused or []


@dataclass(frozen=True)
class Prepared:
    """The image a job's agent and verification start from, and how it was come by."""

    image: str
    key: str
    cache_hit: bool
    seconds: float
    refused: list[str] = field(default_factory=list)


def _archive(files: dict[str, bytes], directories: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _build(
    client: docker.DockerClient,
    context: bytes,
    dockerfile: str,
    *,
    network_mode: str,
    buildargs: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Build from a tar context; the image id, or EnvironmentFailed with the engine's words."""
    try:
        image_id = build_from_context(
            client,
            context,
            dockerfile=dockerfile,
            network_mode=network_mode,
            buildargs=buildargs,
            labels=labels,
        )
    except (BuildFailed, APIError, BuildError) as error:
        raise EnvironmentFailed(
            f"the environment's image did not build: {str(error)[-500:]}",
            "Fix the Dockerfile, then try again.",
        ) from None
    if not image_id:
        raise EnvironmentFailed("the environment's image build reported no image", "Try again.")
    return image_id


def _base_image(client: docker.DockerClient, spec: EnvironmentSpec, egress: Egress | None) -> str:
    """The id of the image the environment starts from."""
    if spec.dockerfile is not None and spec.context_tar is not None:
        assert egress is not None
        return _build(
            client,
            spec.context_tar,
            spec.dockerfile,
            network_mode=egress.network,
            buildargs={k: v for k, v in egress.environment.items() if v},
        )
    assert spec.base_image is not None
    try:
        return str(client.images.get(spec.base_image).id)
    except ImageNotFound:
        pass
    try:
        return str(client.images.pull(spec.base_image).id)
    except (APIError, ImageNotFound) as error:
        raise EnvironmentFailed(
            f"the image `{spec.base_image}` is not on the Docker engine and could not be pulled "
            f"({getattr(error, 'explanation', None) or error})",
            "Name an image the engine can pull (or the operator can load), then try again.",
        ) from None


def _with_tools(client: docker.DockerClient, base_id: str, spec: EnvironmentSpec, key: str) -> str:
    context = _archive(
        {"Dockerfile": tools_dockerfile(base_id, spec.tools_image).encode()},
        directories=("home", "workspace"),
    )
    return _build(
        client,
        context,
        "Dockerfile",
        network_mode="none",
        labels={KEY_LABEL: key, ROLE_LABEL: ENVIRONMENT_ROLE},
    )


def _run_setup(
    client: docker.DockerClient,
    image_id: str,
    spec: EnvironmentSpec,
    *,
    job_id: str,
    egress: Egress,
    checkout: Path,
    limits: SetupLimits,
    ca_bundle: bytes | None,
    key: str,
) -> str:
    """Run the set-up in a container from `image_id`; commit it as the environment's image."""
    environment = {k: v for k, v in egress.environment.items()}
    if ca_bundle:
        environment.update(dict.fromkeys(CA_VARIABLES, CA_PATH))
    kwargs = setup_container_kwargs(
        image_id,
        spec.setup,
        job_id=job_id,
        network=egress.network,
        environment=environment,
        checkout=checkout,
        limits=limits,
    )
    container: Container = client.containers.create(**kwargs)
    try:
        if ca_bundle:
            container.put_archive("/", _archive({CA_PATH.lstrip("/"): ca_bundle}))
        container.start()
        try:
            status = container.wait(timeout=limits.timeout_seconds)
        except Exception:  # the engine's read timed out: the set-up ran past its time
            container.kill()
            raise EnvironmentFailed(
                f"the environment's set-up ran past its limit of {limits.timeout_seconds:.0f} s",
                "Make the set-up commands shorter (or ask the operator to raise "
                "`FIXWRIGHT_ENVIRONMENT_SETUP_TIMEOUT_SECONDS`), then try again.",
            ) from None
        code = status.get("StatusCode")
        if code != 0:
            output = container.logs(stdout=True, stderr=True).decode(errors="replace")
            shown = output[-LOG_TAIL:].replace(FENCE, "'''")
            raise EnvironmentFailed(
                f"the environment's set-up failed (exit code {code}); its last output:\n\n"
                f"{FENCE}\n{shown}\n{FENCE}",
                "Fix the set-up commands (or the hosts they reach), then try again.",
            )
        tooled = client.images.get(image_id).attrs["Config"]
        committed = container.commit(
            repository=ENVIRONMENT_REPOSITORY,
            tag=key[:32],
            # The setup container's own command goes; the image keeps the base's.
            changes=[
                f"ENTRYPOINT {json.dumps(tooled.get('Entrypoint') or [])}",
                f"CMD {json.dumps(tooled.get('Cmd') or [])}",
                f"LABEL {ROLE_LABEL}={ENVIRONMENT_ROLE} {KEY_LABEL}={key}",
            ],
        )
        return str(committed.id)
    finally:
        remove_container(container)


async def prepare_environment(
    client: docker.DockerClient,
    spec: EnvironmentSpec,
    *,
    job_id: str,
    checkout: Path,
    egress: EgressSpec,
    limits: SetupLimits,
    ca_bundle: bytes | None,
    cache: EnvironmentCache,
) -> Prepared:
    """The environment's image, from the cache when the same one was prepared before.

    An image base is keyed before anything runs, so a cached environment starts no proxy; a
    Dockerfile is built first (behind the proxy: its `RUN` steps may fetch), then keyed."""
    started = time.monotonic()
    base_id = None
    if spec.dockerfile is None:
        base_id = await asyncio.to_thread(_base_image, client, spec, None)
        key = await asyncio.to_thread(_key, client, spec, base_id)
        if await asyncio.to_thread(cache.has, key):
            return Prepared(image_tag(key), key, True, time.monotonic() - started)
        if not spec.setup:
            await asyncio.to_thread(_tooled_only, client, spec, base_id, key, cache)
            return Prepared(image_tag(key), key, False, time.monotonic() - started)
    failed: EnvironmentFailed | None = None
    async with egress_proxy(client, egress) as session:
        try:
            key, hit = await asyncio.to_thread(
                _prepare_behind_proxy,
                client,
                spec,
                base_id,
                _Setup(job_id, session, checkout, limits, ca_bundle),
                cache,
            )
        except EnvironmentFailed as failure:
            failed = failure
    # The proxy's refusals are known once it has stopped.
    if failed is not None:
        failed.refused = session.refused
        raise failed
    return Prepared(image_tag(key), key, hit, time.monotonic() - started, session.refused)


@dataclass(frozen=True)
class _Setup:
    job_id: str
    egress: Egress
    checkout: Path
    limits: SetupLimits
    ca_bundle: bytes | None


def _key(client: docker.DockerClient, spec: EnvironmentSpec, base_id: str) -> str:
    return cache_key(spec, base_id, str(client.images.get(spec.tools_image).id))


def _tooled_only(
    client: docker.DockerClient,
    spec: EnvironmentSpec,
    base_id: str,
    key: str,
    cache: EnvironmentCache,
) -> None:
    image_id = _with_tools(client, base_id, spec, key)
    client.images.get(image_id).tag(ENVIRONMENT_REPOSITORY, key[:32])
    cache.added(key)


def _prepare_behind_proxy(
    client: docker.DockerClient,
    spec: EnvironmentSpec,
    base_id: str | None,
    setup: _Setup,
    cache: EnvironmentCache,
) -> tuple[str, bool]:
    """(key, cache hit): the base built if it is a Dockerfile, the tools added, the set-up run."""
    base_id = base_id or _base_image(client, spec, setup.egress)
    key = _key(client, spec, base_id)
    if cache.has(key):
        return key, True
    if not spec.setup:
        _tooled_only(client, spec, base_id, key, cache)
        return key, False
    tooled = _with_tools(client, base_id, spec, key)
    _run_setup(
        client,
        tooled,
        spec,
        job_id=setup.job_id,
        egress=setup.egress,
        checkout=setup.checkout,
        limits=setup.limits,
        ca_bundle=setup.ca_bundle,
        key=key,
    )
    cache.added(key)
    return key, False


@dataclass
class EnvironmentCache:
    """The prepared environments on this engine, their last use kept as files' times under
    `directory`, pruned least recently used past `max_images`."""

    client: docker.DockerClient
    directory: Path
    max_images: int
    instance: str

    def has(self, key: str) -> bool:
        try:
            self.client.images.get(image_tag(key))
        except ImageNotFound:
            return False
        self.used(key)
        return True

    def used(self, key: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / key).touch()

    def added(self, key: str) -> None:
        self.used(key)
        self.prune(self.max_images)

    def entries(self) -> list[tuple[str, float, int]]:
        """(key, last used, size in bytes) of each environment image, most recent first."""
        found = []
        for image in self.client.images.list(filters={"label": f"{ROLE_LABEL}={ENVIRONMENT_ROLE}"}):
            key = image.labels.get(KEY_LABEL, "")
            if not key or not any(
                tag.startswith(f"{ENVIRONMENT_REPOSITORY}:") for tag in image.tags
            ):
                continue
            marker = self.directory / key
            used = marker.stat().st_mtime if marker.exists() else 0.0
            found.append((key, used, int(image.attrs.get("Size", 0))))
        return sorted(found, key=lambda entry: entry[1], reverse=True)

    def prune(self, keep: int) -> list[str]:
        """Remove all but the `keep` most recently used; the removed keys."""
        removed = []
        for key, _, _ in self.entries()[keep:]:
            try:
                self.client.images.remove(image_tag(key), noprune=False)
            except (NotFound, APIError):
                continue
            (self.directory / key).unlink(missing_ok=True)
            removed.append(key)
        return removed


__all__ = [
    "EnvironmentCache",
    "EnvironmentFailed",
    "EnvironmentSpec",
    "Prepared",
    "SetupLimits",
    "prepare_environment",
]
