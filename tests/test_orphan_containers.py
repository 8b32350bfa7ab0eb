"""At start-up the service removes its sandbox containers that no running job owns, and no other
deployment's."""

from __future__ import annotations

import docker
import pytest

from app.config import Settings
from sandbox.container import INSTANCE_LABEL, JOB_LABEL, ROLE, ROLE_LABEL
from tests.fixtures.engines import SECOND_ENGINE
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for


@pytest.mark.docker
def test_orphaned_sandbox_containers_are_removed_at_start(
    service_process: ServiceProcess, docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    """A container left by a crashed worker is gone once the service starts; a container of
    another deployment (another store) with the same job id, and an unlabelled one, stay."""
    instance = Settings(store_url=service_process.env["FIXWRIGHT_STORE_URL"]).instance_id()
    # The orphan was made a moment ago: no grace, or it would wait for a later round.
    service_process.env["FIXWRIGHT_SANDBOX_ORPHAN_GRACE_SECONDS"] = "0"
    orphan = docker_client.containers.run(
        sandbox_image,
        entrypoint=["sleep", "300"],
        labels={ROLE_LABEL: ROLE, JOB_LABEL: "job-that-died", INSTANCE_LABEL: instance},
        network_mode="none",
        detach=True,
    )
    bystander = docker_client.containers.run(
        sandbox_image, entrypoint=["sleep", "300"], network_mode="none", detach=True
    )
    neighbour = docker_client.containers.run(
        sandbox_image,
        entrypoint=["sleep", "300"],
        labels={ROLE_LABEL: ROLE, JOB_LABEL: "job-that-died", INSTANCE_LABEL: "another-deployment"},
        network_mode="none",
        detach=True,
    )
    try:
        service_process.start()

        def orphan_gone() -> bool:
            return not docker_client.containers.list(all=True, filters={"id": orphan.id})

        wait_for(orphan_gone)
        for survivor in (bystander, neighbour):
            survivor.reload()
            assert survivor.status == "running"
        assert any(
            line["event"] == "sandbox.orphans_removed" and line["jobs"] == ["job-that-died"]
            for line in service_process.log_lines()
        )
    finally:
        bystander.remove(force=True)
        neighbour.remove(force=True)
        if docker_client.containers.list(all=True, filters={"id": orphan.id}):
            orphan.remove(force=True)


@pytest.mark.docker
def test_a_service_on_the_second_engine_reaps_there_and_nowhere_else(
    service_process: ServiceProcess,
    docker_client: docker.DockerClient,
    second_docker_client: docker.DockerClient,
    sandbox_image: str,
) -> None:
    """With DOCKER_HOST naming the second engine, the service's worker removes its deployment's
    orphan there; the same deployment's orphan on the first engine is another worker's to reap."""
    instance = Settings(store_url=service_process.env["FIXWRIGHT_STORE_URL"]).instance_id()
    service_process.env["FIXWRIGHT_SANDBOX_ORPHAN_GRACE_SECONDS"] = "0"
    service_process.env["DOCKER_HOST"] = SECOND_ENGINE
    labels = {ROLE_LABEL: ROLE, JOB_LABEL: "job-that-died", INSTANCE_LABEL: instance}
    orphans = [
        client.containers.run(
            sandbox_image,
            entrypoint=["sleep", "300"],
            labels=labels,
            network_mode="none",
            detach=True,
        )
        for client in (second_docker_client, docker_client)
    ]
    there, here = orphans
    try:
        service_process.start()

        def gone_there() -> bool:
            return not second_docker_client.containers.list(all=True, filters={"id": there.id})

        wait_for(gone_there)
        here.reload()
        assert here.status == "running"
    finally:
        for client, orphan in zip((second_docker_client, docker_client), orphans, strict=True):
            if client.containers.list(all=True, filters={"id": orphan.id}):
                orphan.remove(force=True)
