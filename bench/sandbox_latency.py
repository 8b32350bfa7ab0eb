"""Sandbox latency: from `docker run` to the first model request, and a whole one-edit run.

Runs the real CLI in the real sandbox against the scripted model API (through the relay) ten
times and prints the medians. Needs the sandbox image (`fixwright sandbox build`).

    python -m bench.sandbox_latency [--runs 10]    (from the repository root)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

from app.config import Settings
from app.sandbox_service import sandbox_limits
from sandbox.container import RunSpec
from sandbox.relay import ModelRelay
from sandbox.runner import Outcome, run_in_sandbox
from sandbox.workspace import copy_repository
from tests.fakes.model.fixtures import fake_api_key
from tests.fakes.model.scenario import Scenario
from tests.fakes.model.server import FakeModelAPI
from tests.fakes.model.threaded import serve_in_thread
from tests.fixtures.sandbox import make_repository


class FirstRequestClock:
    """An ASGI wrapper noting when the model API receives its first request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.first_request_at: float | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.first_request_at is None:
            self.first_request_at = time.monotonic()
        await self.app(scope, receive, send)


async def one_run(number: int, scratch: Path, settings: Settings) -> tuple[float, float]:
    """Seconds to the first model request and to the end of a read-edit-answer run."""
    api = FakeModelAPI(fake_api_key())
    api.set_scenario(
        Scenario.fix_file("/workspace/widgets.py", '"Hello, " + nam\n', '"Hello, " + name\n')
    )
    clock = FirstRequestClock(api.app)
    source = make_repository(scratch / f"source-{number}")
    (scratch / f"copy-{number}").mkdir()
    workspace = copy_repository(source, scratch / f"copy-{number}")
    with serve_in_thread(clock) as url:
        relay = ModelRelay(
            socket_path=scratch / f"r{number}" / "m.sock", upstream_url=url, api_key=api.api_key
        )
        await relay.start()
        try:
            spec = RunSpec(job_id=f"bench-{number}", workspace=workspace.path, prompt="Fix it")
            started = time.monotonic()
            result = await run_in_sandbox(
                spec, sandbox_limits(settings), docker_client=docker.from_env(), relay=relay
            )
            ended = time.monotonic()
        finally:
            await relay.stop()
    if result.outcome is not Outcome.SUCCESS or clock.first_request_at is None:
        raise SystemExit(f"run {number} did not succeed: {result.outcome} {result.stderr_tail}")
    return clock.first_request_at - started, ended - started


async def main(runs: int) -> None:
    settings = Settings(webhook_secrets=(), model="claude-sonnet-4-5")
    first, whole = [], []
    with tempfile.TemporaryDirectory(prefix="fw-bench-") as scratch:
        await one_run(-1, Path(scratch), settings)  # warm the page cache; not counted
        for number in range(runs):
            to_first, to_end = await one_run(number, Path(scratch), settings)
            first.append(to_first)
            whole.append(to_end)
            print(f"run {number + 1:2d}: first request {to_first:.3f} s, whole run {to_end:.3f} s")
    print(
        f"median of {runs}: docker run -> first model request {statistics.median(first):.3f} s; "
        f"whole one-edit run (3 turns) {statistics.median(whole):.3f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
