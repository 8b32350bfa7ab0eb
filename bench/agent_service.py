"""A real `fixwright serve` wired to the test fakes (GitHub, scripted model), with clocks on both.

Shared by the job-latency and concurrency benchmarks. Needs the sandbox image
(`fixwright sandbox build`) and a Docker engine.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import (
    APP_ID,
    INSTALLATION_ID,
    MAINTAINER,
    REPOSITORY,
    FakeGitHub,
    generate_private_key,
    new_state,
)
from tests.fakes.github.server import create_app, serve
from tests.fakes.model.fixtures import fake_api_key
from tests.fakes.model.scenario import Scenario
from tests.fakes.model.server import FakeModelAPI
from tests.fakes.model.threaded import serve_in_thread
from tests.fixtures.sandbox import SANDBOX_IMAGE
from tests.fixtures.service import ServiceProcess, service_environment

FIX = Scenario.fix_file(
    "/workspace/hello/greet.py",
    'return "Hello " + name',
    'return f"Hello, {name}!"',
    summary="greet() now puts a comma after Hello and ends with an exclamation mark.",
)


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange seen by a fake: when it arrived, when its answer ended, its status, and
    how many bytes its answer's body held."""

    method: str
    path: str
    started: float
    ended: float
    status: int
    sent: int = 0


@dataclass
class Clock:
    """An ASGI wrapper that timestamps every request and the end of every answer (monotonic)."""

    app: Any
    exchanges: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = sent = 0

        async def timed_send(message: Any) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body"):
                    ended = time.monotonic()
                    with self._lock:
                        self.exchanges.append(
                            Exchange(scope["method"], scope["path"], started, ended, status, sent)
                        )

        await self.app(scope, receive, timed_send)

    def seen(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)


@dataclass
class AgentService:
    """The running parts: the service process, the fakes and their clocks."""

    service: ServiceProcess
    github: FakeGitHub
    github_clock: Clock
    model_clock: Clock
    scratch: Path

    def add_issues(self, count: int) -> list[int]:
        """Open `count` more issues like the fake's first one; their numbers."""
        first = self.github.state.issues[(REPOSITORY, 1)]
        return [
            self.github.state.add_issue(REPOSITORY, first.title, first.body, MAINTAINER).number
            for _ in range(count)
        ]

    def label(self, number: int) -> float:
        """Label issue `number` for fixwright; the monotonic time its 202 arrived."""
        response = self.service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, number))
        answered = time.monotonic()
        if response.status_code != 202 or "jobs" not in response.json():
            raise RuntimeError(
                f"the label did not queue a job: {response.status_code} {response.text}"
            )
        return answered

    def finished_jobs(self) -> list[dict[str, Any]]:
        return [line for line in self.service.log_lines() if line.get("event") == "job.finished"]

    def pull_created_after(self, seen_before: int) -> float | None:
        """When the fake GitHub finished answering 201 to a new PR, among exchanges after the first
        `seen_before` it saw; None while there is none."""
        created = [
            exchange.ended
            for exchange in self.github_clock.seen()[seen_before:]
            if exchange.method == "POST" and exchange.path.endswith("/pulls")
            and exchange.status == 201
        ]  # fmt: skip
        return created[0] if created else None


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def agent_service(
    workers: int, scenario: Scenario = FIX, **settings: str
) -> Iterator[AgentService]:
    """Fake GitHub and model in threads, `fixwright serve` as a subprocess with `workers` (and
    any other FIXWRIGHT_* `settings`)."""
    # A stopped benchmark (SIGTERM) still stops the service it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fw-bench-")))
        github_clock = Clock(create_app())
        github_url = stack.enter_context(serve(github_clock))
        private_key = generate_private_key()
        state = new_state(scratch / "github", github_url, private_key)
        github_clock.app.state.github = state
        github = FakeGitHub(url=github_url, state=state, app_id=APP_ID, private_key=private_key)
        model = FakeModelAPI(fake_api_key(), scenario)
        model_clock = Clock(model.app)
        model_url = stack.enter_context(serve_in_thread(model_clock))
        env = service_environment(github, scratch)
        env.update(
            FIXWRIGHT_WORKERS=str(workers),
            FIXWRIGHT_ANTHROPIC_API_KEY=model.api_key,
            FIXWRIGHT_MODEL_UPSTREAM_URL=model_url,
            FIXWRIGHT_SANDBOX_IMAGE=SANDBOX_IMAGE,
            FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS="900",
            FIXWRIGHT_JOB_LEASE_SECONDS="30",
            FIXWRIGHT_STATE_DIR=str(scratch / "state"),
            # The benchmark's maintainer triggers every job; per-user and concurrency quotas
            # would refuse or hold them (0: no limit).
            FIXWRIGHT_QUOTA_JOBS_PER_USER_PER_HOUR="0",
            FIXWRIGHT_QUOTA_CONCURRENT_JOBS="0",
        )
        env.update(settings)
        service = ServiceProcess(
            env=env, log_path=scratch / "service.log", store_path=scratch / "store" / "fixwright.db"
        )
        stack.callback(service.stop)
        service.start()
        yield AgentService(service, github, github_clock, model_clock, scratch)
