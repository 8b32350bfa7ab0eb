"""Twenty fix jobs at once: all complete, the service's memory stays bounded, intake stays fast.

One `fixwright serve` with 20 workers against the fake GitHub and the scripted model. Intake
latency (wrk with the intake benchmark's signed mix, which queues no job) is measured idle,
then again while the 20 jobs run. The bare Starlette receiver of the intake benchmark runs
beside it and is measured the same way, in alternating windows, so the table tells what the
jobs do to fixwright's intake from what they do to the machine (starting and removing twenty
containers slows every process on two cores). The service's resident memory (VmRSS of the
process and its child processes, containers excluded) is sampled throughout.

    python -m bench.concurrency [--jobs 20] [--out bench/results/concurrency.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.agent_service import agent_service, wait_until
from bench.intake import receivers
from bench.intake.payloads import payload_mix, write_mix_file
from bench.intake.receivers import Receiver
from bench.intake.wrk import LoadRun, run_load
from bench.report import publish
from tests.fakes.github.fixtures import WEBHOOK_SECRET

LOAD_CORE = 1
# Neither receiver is pinned: the service is not, as deployed, and the peer must not be worse off.
RECEIVER_CORES = "0,1"
# wrk stands for GitHub's senders, which are not on this machine: the jobs' processes must not
# delay it, or its own waits would count as the service's latency.
LOAD_NICE = -15
WINDOW_SECONDS = 2
ROUNDS = 5  # windows per receiver and connection count, alternating fixwright and the peer


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


def load(url: str, mix_file: Path, connections: int) -> LoadRun:
    return run_load(
        url,
        mix_file,
        connections=connections,
        seconds=WINDOW_SECONDS,
        core=LOAD_CORE,
        nice=LOAD_NICE,
    )


Windows = dict[str, dict[int, list[LoadRun]]]  # receiver -> connections -> its windows


def alternate(urls: dict[str, str], mix_file: Path, into: Windows) -> None:
    """ROUNDS windows per receiver at 1, then at 32 connections, the receivers taking turns."""
    for connections in (1, 32):
        for _ in range(ROUNDS):
            for name, url in urls.items():
                into[name].setdefault(connections, []).append(load(url, mix_file, connections))


@contextmanager
def bare_receiver(scratch: Path) -> Iterator[Receiver]:
    """The intake benchmark's bare Starlette receiver, with the fake GitHub's webhook secret."""
    peer = receivers.starlette(scratch, WEBHOOK_SECRET, sys.executable)
    peer.start(RECEIVER_CORES)
    try:
        yield peer
    finally:
        peer.stop()


def main(jobs: int, out: Path | None) -> None:
    with (
        agent_service(workers=jobs) as running,
        tempfile.TemporaryDirectory() as directory,
        bare_receiver(Path(directory)) as peer,
    ):
        mix_file = write_mix_file(payload_mix(WEBHOOK_SECRET), Path(directory))
        urls = {"fixwright": running.service.url + "/webhooks/github", "starlette": peer.url}
        numbers = running.add_issues(jobs)
        assert running.service.process is not None
        idle: Windows = {name: {} for name in urls}
        busy: Windows = {name: {} for name in urls}
        with MemorySampler(running.service.process.pid) as memory:
            load(urls["fixwright"], mix_file, 1)  # warm-up
            alternate(urls, mix_file, idle)
            idle_rss_mib = memory.service_kib[-1] / 1024
            started = time.monotonic()
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(running.label, numbers))
            alternate(urls, mix_file, busy)
            finished_during = len(running.finished_jobs())
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
    publish(table, out)


def p99(windows: list[LoadRun]) -> float:
    """The median of the windows' p99 latencies."""
    return statistics.median(window.p99_ms for window in windows)


def render(
    jobs: int,
    idle: Windows,
    busy: Windows,
    finished_during: int,
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
        f"Intake: wrk with the signed mix (no job queued by it), {ROUNDS} windows of "
        f"{WINDOW_SECONDS} s per row, fixwright and the bare Starlette receiver taking turns; "
        f"during the jobs, the windows fall in the first {2 * 2 * ROUNDS * WINDOW_SECONDS} s after "
        f"the 20 labels ({finished_during} of {jobs} jobs had finished by their end). p99: the "
        "median of the windows' p99 (the worst window in brackets).",
        "",
        "| receiver | connections | idle p99 ms | during jobs p99 ms | ratio | idle req/s | "
        "during req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in idle:
        for connections in sorted(idle[name]):
            quiet, loaded = idle[name][connections], busy[name][connections]
            worst = max(window.p99_ms for window in loaded)
            rate = [statistics.median(w.requests_per_second for w in ws) for ws in (quiet, loaded)]
            lines.append(
                f"| {name} | {connections} | {p99(quiet):.2f} | {p99(loaded):.2f} ({worst:.0f}) | "
                f"{p99(loaded) / p99(quiet):.2f}x | {rate[0]:,.0f} | {rate[1]:,.0f} |"
            )
    lines += [
        "",
        "fixwright's p99 ratio (during / idle) over the bare receiver's, same windows:",
        "",
    ]
    for connections in sorted(idle["fixwright"]):
        ratios = [p99(busy[n][connections]) / p99(idle[n][connections]) for n in idle]
        lines.append(f"- {connections} connections: {ratios[0] / ratios[1]:.2f}")
    errors = sum(
        run.non_2xx + run.socket_errors + run.timeouts
        for windows in (idle, busy)
        for by_count in windows.values()
        for runs in by_count.values()
        for run in runs
    )
    lines += ["", f"Intake errors (non-2xx, socket, timeouts) over all windows: {errors}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    main(arguments.jobs, arguments.out)
