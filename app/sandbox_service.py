"""The service's sandbox: the Docker engine, the model relay on a host socket, and job workspaces."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from app.config import Settings
from sandbox.container import RunSpec
from sandbox.relay import ModelRelay
from sandbox.runner import EventCallback, RunResult, run_in_sandbox


@dataclass(frozen=True)
class Sandbox:
    """What a handler needs to run Claude Code: one call, the container never outliving it."""

    settings: Settings
    docker_client: docker.DockerClient
    relay: ModelRelay
    workspaces: Path

    async def run(self, spec: RunSpec, on_event: EventCallback | None = None) -> RunResult:
        return await run_in_sandbox(
            spec,
            self.settings,
            docker_client=self.docker_client,
            relay=self.relay,
            on_event=on_event,
        )


@asynccontextmanager
async def open_sandbox(settings: Settings, docker_client: Any) -> AsyncIterator[Sandbox]:
    """Start the model relay (its socket in a short private directory: sun_path is 108 bytes)."""
    socket_dir = Path(tempfile.mkdtemp(prefix="fixwright-relay-"))
    relay = ModelRelay(
        socket_path=socket_dir / "model.sock",
        upstream_url=settings.model_upstream_url,
        api_key=settings.anthropic_api_key,
    )
    workspaces = (Path(settings.state_dir) / "workspaces").resolve()
    workspaces.mkdir(parents=True, exist_ok=True)
    await relay.start()
    try:
        yield Sandbox(settings, docker_client, relay, workspaces)
    finally:
        await relay.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
