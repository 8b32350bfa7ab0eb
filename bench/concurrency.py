"""Twenty fix jobs at once: all complete, the service's memory stays bounded, intake stays fast.

One `fixwright serve` with 20 workers against the fake GitHub and the scripted model. Intake
latency (wrk with the intake benchmark's signed mix, which queues no job) is measured idle,
then again while the 20 jobs run; the service's resident memory (VmRSS of the process and its
child processes, containers excluded) is sampled throughout.

    python -m bench.concurrency [--jobs 20] [--out bench/results/concurrency.md]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.agent_service import AgentService, agent_service, wait_until
from bench.intake.payloads import payload_mix, write_mix_file
from bench.intake.wrk import LoadRun, run_load
from tests.fakes.github.fixtures import WEBHOOK_SECRET

LOAD_CORE = 1
WINDOW_SECONDS = 10


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def descendants(pid: int) -> list[int]:
    """The process's children, their children, and so on (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(child) for child in task.read_text().split()]
            except OSError:
                continue
            found += children
            pending += children
    return found


@dataclass
class MemorySampler:
    """Samples the service's RSS (alone, and with its child processes) every `interval` seconds."""

    pid: int
    interval: float = 0.1
    service_kib: list[int] = field(default_factory=list)
    tree_kib: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            own = rss_kib(self.pid)
            self.service_kib.append(own)
            self.tree_kib.append(own + sum(rss_kib(child) for child in descendants(self.pid)))


def intake_load(running: AgentService, mix_file: Path, connections: int) -> LoadRun:
    return run_load(
        running.service.url + "/webhooks/github",
        mix_file,
        connections=connections,
        seconds=WINDOW_SECONDS,
        core=LOAD_CORE,
    )


def main(jobs: int, out: Path | None) -> None:
    with agent_service(workers=jobs) as running, tempfile.TemporaryDirectory() as directory:
        mix_file = write_mix_file(payload_mix(WEBHOOK_SECRET), Path(directory))
        numbers = running.add_issues(jobs)
        assert running.service.process is not None
        with MemorySampler(running.service.process.pid) as memory:
            intake_load(running, mix_file, 1)  # warm-up
            idle = {c: intake_load(running, mix_file, c) for c in (1, 32)}
            idle_rss_mib = memory.service_kib[-1] / 1024
            started = time.monotonic()
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(running.label, numbers))
            busy: dict[int, LoadRun] = {}
            finished_during: dict[int, tuple[int, int]] = {}
            for connections in (1, 32):
                before = len(running.finished_jobs())
                busy[connections] = intake_load(running, mix_file, connections)
                finished_during[connections] = (before, len(running.finished_jobs()))
            finished = wait_until(
                lambda: len(running.finished_jobs()) >= jobs and running.finished_jobs(),
                900,
                f"{jobs} jobs to finish",
                interval=0.5,
            )
            elapsed = time.monotonic() - started
        states = [job.get("state") for job in finished]
        pulls = len(running.github.state.pulls)
    table = render(jobs, idle, busy, finished_during, memory, idle_rss_mib, states, pulls, elapsed)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
    print(table)


def render(
    jobs: int,
    idle: dict[int, LoadRun],
    busy: dict[int, LoadRun],
    finished_during: dict[int, tuple[int, int]],
    memory: MemorySampler,
    idle_rss_mib: float,
    states: list[object],
    pulls: int,
    elapsed: float,
) -> str:
    succeeded = states.count("succeeded")
    lines = [
        f"# {jobs} fix jobs at once",
        "",
        f"Jobs: {succeeded}/{jobs} succeeded, {pulls} pull requests opened, all done "
        f"{elapsed:.1f} s after the first webhook.",
        "",
        "| service memory (VmRSS) | MiB |",
        "| --- | ---: |",
        f"| idle, before the jobs | {idle_rss_mib:.0f} |",
        f"| peak, service process | {max(memory.service_kib) / 1024:.0f} |",
        f"| peak, service and its child processes (git, relays; no containers) | "
        f"{max(memory.tree_kib) / 1024:.0f} |",
        f"| after all jobs finished | {memory.service_kib[-1] / 1024:.0f} |",
        "",
        f"Intake ({WINDOW_SECONDS} s of wrk per row, the signed mix, no job queued by it):",
        "",
        "| connections | idle p99 ms | during jobs p99 ms | ratio | idle req/s | during req/s | "
        "jobs finished during the window |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for connections in sorted(idle):
        quiet, loaded = idle[connections], busy[connections]
        before, after = finished_during[connections]
        lines.append(
            f"| {connections} | {quiet.p99_ms:.2f} | {loaded.p99_ms:.2f} | "
            f"{loaded.p99_ms / quiet.p99_ms:.2f}x | {quiet.requests_per_second:,.0f} | "
            f"{loaded.requests_per_second:,.0f} | {before} → {after} of {jobs} |"
        )
    errors = sum(
        run.non_2xx + run.socket_errors + run.timeouts for run in (*idle.values(), *busy.values())
    )
    lines += ["", f"Intake errors (non-2xx, socket, timeouts) over all windows: {errors}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    main(arguments.jobs, arguments.out)
