"""Task creation: `POST /v1/tasks` under load, against the same server's webhook intake measured
in the same run.

The service (`create_app` under uvicorn, as `fixwright serve` runs it, on a real port, pinned to
one core, no workers: every task stays queued) is loaded by wrk on the other core, first with the
intake benchmark's signed webhook mix, then with one task body posted again and again (each
request queues a new task: authentication, the key's rate limit, validation, the quota gate, and
the job with its task row in one transaction). The body names a git URL, so no request waits on
GitHub: what is measured is the service's own path.

    python -m bench.task_create [--seconds 5] [--runs 3] [--out bench/results/task_create.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.api.auth import new_key
from bench.intake.payloads import BENCH_DIR, payload_mix, write_mix_file
from bench.intake.receivers import free_port
from bench.intake.report import machine
from bench.intake.wrk import LoadRun, ensure_wrk, run_load
from bench.report import publish
from bench.sse_fanout import (
    INTAKE_CONNECTIONS,
    LOAD_CORE,
    SERVER_CORE,
    service_settings,
    start_service,
)
from tests.fakes.github.fixtures import WEBHOOK_SECRET

TASK_SCRIPT = BENCH_DIR / "task_create.lua"
TASK = {
    "prompt": "Update the lock file and fix what breaks.",
    "repository": {"url": "https://git.example.org/octo/bench.git"},
    "claude": {"max_turns": 5},
}


def measure(
    url: str, connections: int, seconds: float, runs: int, mix_file: Path, **script: Any
) -> list[LoadRun]:
    """A warm-up, then `runs` measured runs (the intake's mix, or another `script`)."""

    def once(length: float) -> LoadRun:
        return run_load(
            url, mix_file, connections=connections, seconds=length, core=LOAD_CORE, **script
        )

    once(2)
    return [once(seconds) for _ in range(runs)]


async def run(args: argparse.Namespace) -> str:
    os.sched_setaffinity(0, {SERVER_CORE})
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="fw-tasks-") as directory:
        scratch = Path(directory)
        settings = service_settings(scratch / "store" / "fixwright.db", free_port())
        front, server, serving = await start_service(settings)
        url = f"http://127.0.0.1:{settings.port}"
        try:
            made = new_key("bench", ("tasks:write",), time.time(), per_minute=10**9, per_hour=10**9)
            await front.state.api.store.add_api_key(made.record)
            body = scratch / "task.json"
            body.write_text(json.dumps(TASK))
            mix_file = write_mix_file(payload_mix(WEBHOOK_SECRET), scratch)
            figures = {}
            for connections in INTAKE_CONNECTIONS:
                intake = await asyncio.to_thread(
                    measure, url + "/webhooks/github", connections, args.seconds, args.runs,
                    mix_file,
                )  # fmt: skip
                tasks = await asyncio.to_thread(
                    measure, url + "/v1/tasks", connections, args.seconds, args.runs,
                    mix_file, script=TASK_SCRIPT, arguments=(str(body), made.key),
                )  # fmt: skip
                figures[connections] = (intake, tasks)
        finally:
            server.should_exit = True
            await serving
    return render(figures, args)


def median(runs: list[LoadRun], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def render(
    figures: dict[int, tuple[list[LoadRun], list[LoadRun]]], args: argparse.Namespace
) -> str:
    lines = [
        "# Task creation: POST /v1/tasks against the webhook intake",
        "",
        f"Machine: {machine()}. The service on core {SERVER_CORE}, wrk on core {LOAD_CORE}; "
        f"{args.runs} runs of {args.seconds:g} s per row (medians). Every answer counted was a "
        "2xx (a row with errors says how many).",
        "",
        "| connections | intake req/s | tasks/s | tasks ÷ intake | intake p99 ms | task p99 ms "
        "| p99 ÷ intake | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for connections, (intake, tasks) in figures.items():
        rate, task_rate = (median(r, "requests_per_second") for r in (intake, tasks))
        p99, task_p99 = median(intake, "p99_ms"), median(tasks, "p99_ms")
        errors = sum(r.non_2xx + r.socket_errors + r.timeouts for r in (*intake, *tasks))
        lines.append(
            f"| {connections} | {rate:,.0f} | {task_rate:,.0f} | {task_rate / rate:.2f}x "
            f"| {p99:.2f} | {task_p99:.2f} | {task_p99 / p99:.2f}x | {errors} |"
        )
    lines += ["", "Command: `python -m bench.task_create " + shlex.join(sys.argv[1:]) + "`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    publish(asyncio.run(run(args)), args.out)


if __name__ == "__main__":
    main()
