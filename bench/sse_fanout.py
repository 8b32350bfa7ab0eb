"""SSE fan-out: 100 readers of one job's event stream while its events are appended at a steady
rate, against the same server's webhook intake measured in the same run.

The service (`create_app` under uvicorn, as `fixwright serve` runs it, on a real port, pinned to
one core) holds one queued job. Its intake is measured first with wrk and the intake benchmark's
signed mix (bench/intake). Then a reader process on the other core opens 100 streams of
`GET /v1/tasks/{id}/events`; the benchmark appends events in the service's own process, through
the store its hub watches, at each rate for a fixed time, then the terminal event. Each event
carries the time it was appended; a reader's latency is when it parsed the event minus that (one
machine, one clock). Delivery latency and throughput are given beside the intake's and as ratios.

    python -m bench.sse_fanout [--readers 100] [--rates 20,100,200] [--seconds 10]
                               [--out bench/results/sse_fanout.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
import uvloop

from app.api.auth import new_key
from app.config import load_settings
from app.log import configure_logging
from app.store import Delivery, NewJob
from app.web import FrontDoor, create_app
from bench.intake.payloads import payload_mix, write_mix_file
from bench.intake.receivers import free_port
from bench.intake.report import machine
from bench.intake.wrk import LoadRun, ensure_wrk, run_load
from bench.job_latency import percentile
from bench.report import publish
from handlers import build_registry
from tests.fakes.github.fixtures import WEBHOOK_SECRET, generate_private_key

SERVER_CORE = 0
LOAD_CORE = 1
INTAKE_SECONDS = 5
INTAKE_RUNS = 3
INTAKE_CONNECTIONS = (1, 32)


@dataclass(frozen=True)
class Fanout:
    """One rate's figures: what the readers received, and how late."""

    rate: float
    events: int
    readers: int
    delivered: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def service_settings(store: Path, port: int) -> Any:
    environ = {
        "FIXWRIGHT_APP_ID": "4242",
        "FIXWRIGHT_APP_SLUG": "fixwright",
        "FIXWRIGHT_PRIVATE_KEY": generate_private_key(),
        "FIXWRIGHT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FIXWRIGHT_STORE_URL": f"sqlite:///{store}",
        "FIXWRIGHT_WORKERS": "0",
        "FIXWRIGHT_RECONCILE_INTERVAL_SECONDS": "0",
        "FIXWRIGHT_HOST": "127.0.0.1",
        "FIXWRIGHT_PORT": str(port),
        "FIXWRIGHT_LOG_LEVEL": "warning",
    }
    return load_settings(environ, dotenv=None)


async def start_service(settings: Any) -> tuple[FrontDoor, uvicorn.Server, asyncio.Task[None]]:
    front = create_app(settings, build_registry())
    config = uvicorn.Config(
        front, host="127.0.0.1", port=settings.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn tells it only by this flag)
        await asyncio.sleep(0.01)
    return front, server, serving


async def queued_job(front: FrontDoor) -> str:
    job = NewJob("fix", "octo/bench", "octo/bench#1", 1, "octocat", {}, number=1)
    store = front.state.api.store
    [job_id] = await store.record_delivery(Delivery(uuid.uuid4().hex, "issues"), [job]) or []
    return str(job_id)


async def reader_key(front: FrontDoor) -> str:
    """A key with room for every reader's request (the default 60 a minute would refuse some)."""
    made = new_key("bench", ("tasks:read",), time.time(), per_minute=1_000_000, per_hour=10**9)
    await front.state.api.store.add_api_key(made.record)
    return made.key


def measure_intake(url: str, mix_file: Path) -> dict[int, list[LoadRun]]:
    runs: dict[int, list[LoadRun]] = {}
    for connections in INTAKE_CONNECTIONS:
        run_load(url, mix_file, connections=connections, seconds=2, core=LOAD_CORE)  # warm-up
        runs[connections] = [
            run_load(url, mix_file, connections=connections, seconds=INTAKE_SECONDS, core=LOAD_CORE)
            for _ in range(INTAKE_RUNS)
        ]
    return runs


async def append_steadily(front: FrontDoor, job_id: str, rate: float, seconds: float) -> int:
    """`rate` events a second for `seconds`, on an absolute schedule (a late one is not made up
    by a burst of the next)."""
    store = front.state.api.store
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    start = loop.time()
    for number in range(count):
        delay = start + number / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await store.append_event(job_id, "text", {"text": f"event {number}", "sent": time.time()})
    return count


async def one_rate(
    front: FrontDoor, url: str, key: str, readers: int, rate: float, seconds: float
) -> Fanout:
    job_id = await queued_job(front)
    hub = front.state.api.hub
    command = [
        "taskset", "-c", str(LOAD_CORE), sys.executable, "-m", "bench.sse_fanout", "--reader",
        f"{url}/v1/tasks/{job_id}/events", "--key", key, "--readers", str(readers),
    ]  # fmt: skip
    reading = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while hub.readers(job_id) < readers:
        if time.monotonic() > deadline or reading.returncode is not None:
            raise RuntimeError(f"only {hub.readers(job_id)} of {readers} readers connected")
        await asyncio.sleep(0.01)
    events = await append_steadily(front, job_id, rate, seconds)
    await front.state.api.store.append_event(job_id, "completed", {"summary": "bench"})
    out, _ = await reading.communicate()
    result = json.loads(out)
    latencies = result["latencies_ms"]
    return Fanout(
        rate=rate,
        events=events,
        readers=readers,
        delivered=len(latencies),
        seconds=result["seconds"],
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=0.0),
    )


async def run_service(args: argparse.Namespace) -> str:
    os.sched_setaffinity(0, {SERVER_CORE})
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="fw-sse-") as directory:
        scratch = Path(directory)
        settings = service_settings(scratch / "store" / "fixwright.db", free_port())
        front, server, serving = await start_service(settings)
        url = f"http://127.0.0.1:{settings.port}"
        try:
            mix_file = write_mix_file(payload_mix(WEBHOOK_SECRET), scratch)
            intake = await asyncio.to_thread(measure_intake, url + "/webhooks/github", mix_file)
            key = await reader_key(front)
            fanouts = [
                await one_rate(front, url, key, args.readers, rate, args.seconds)
                for rate in (float(r) for r in args.rates.split(","))
            ]
        finally:
            server.should_exit = True
            await serving
    return render(intake, fanouts, args)


def render(
    intake: dict[int, list[LoadRun]], fanouts: list[Fanout], args: argparse.Namespace
) -> str:
    rps = {c: statistics.median(r.requests_per_second for r in runs) for c, runs in intake.items()}
    p50 = {c: statistics.median(r.p50_ms for r in runs) for c, runs in intake.items()}
    p99 = {c: statistics.median(r.p99_ms for r in runs) for c, runs in intake.items()}
    busiest = max(INTAKE_CONNECTIONS)
    lines = [
        f"# SSE fan-out: {args.readers} readers of one job",
        "",
        f"Machine: {machine()}. The service on core {SERVER_CORE}; wrk and the readers on core "
        f"{LOAD_CORE}. Intake: wrk with the signed mix, {INTAKE_RUNS} runs of {INTAKE_SECONDS} s "
        "per row (medians).",
        "",
        "| intake | req/s | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {c} connection{'s' if c > 1 else ''} | {rps[c]:,.0f} | {p50[c]:.2f} | {p99[c]:.2f} |"
            for c in INTAKE_CONNECTIONS
        ),
        "",
        f"Fan-out: events appended at each rate for {args.seconds:g} s; latency from the append "
        "to a reader's parse of it, over every reader's every event.",
        "",
        "| events/s | events | delivered | delivered/s | p50 ms | p99 ms | max ms "
        f"| delivered/s ÷ intake req/s ({busiest} conn.) | p99 ÷ intake p99 ({busiest} conn.) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {f.rate:g} | {f.events:,} | {f.delivered:,} of {f.events * f.readers:,} "
            f"| {f.per_second:,.0f} | {f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.max_ms:.1f} "
            f"| {f.per_second / rps[busiest]:.2f}x | {f.p99_ms / p99[busiest]:.2f}x |"
            for f in fanouts
        ),
        "",
        "Command: `python -m bench.sse_fanout " + shlex.join(sys.argv[1:]) + "`",
        "",
    ]
    return "\n".join(lines)


async def read_streams(url: str, key: str, readers: int) -> dict[str, Any]:
    """The reader process: `readers` streams at once, each on its own connection, read with
    asyncio's streams (an HTTP client library would cost more than what it measures); each
    event's latency, until the terminal event. Every SSE message is one chunk of the chunked
    body, so its lines arrive whole, between chunk-size lines that never start with `data:`."""
    latencies: list[float] = []
    first: list[float] = []
    target = urlsplit(url)
    request = (
        f"GET {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()

    async def one() -> None:
        reader, writer = await asyncio.open_connection(target.hostname, target.port)
        writer.write(request)
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"the stream answered {status!r}")
        while line := await reader.readline():
            if line.startswith(b"data: "):
                data = json.loads(line[6:])
                if "sent" not in data:
                    break  # the terminal event
                now = time.time()
                if not first:
                    first.append(now)
                latencies.append((now - data["sent"]) * 1000)
        writer.close()

    await asyncio.gather(*(one() for _ in range(readers)))
    return {"latencies_ms": latencies, "seconds": time.time() - first[0] if first else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--rates", default="20,100,200", help="events a second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--reader", help=argparse.SUPPRESS)  # the reader process's stream URL
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        print(json.dumps(asyncio.run(read_streams(args.reader, args.key, args.readers))))
        return
    configure_logging(log_format="json", level="warning", secrets=())
    publish(uvloop.run(run_service(args)), args.out)


if __name__ == "__main__":
    main()
