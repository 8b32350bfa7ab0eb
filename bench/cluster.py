"""Cluster: jobs per minute with 1, 2 and 3 worker processes on one store, and queue latency.

    python -m bench.cluster --out bench/results/cluster.md
        [--processes 1,2,3] [--workers-per-process 1] [--jobs 9] [--burst 200]
        [--store postgresql] [--postgres postgresql://postgres@127.0.0.1:5432]

For each process count: a fresh store (on PostgreSQL a database created for the run and dropped
after it), one `fixwright serve --role web` process taking the webhooks, and that many
`--role worker` processes, all against the fake GitHub and the scripted model (in this process's
threads), with the real sandbox. Then two measurements:

- **fix jobs per minute**: `--jobs` issues labelled at once, each a full fix job (clone,
  container, Claude Code against the scripted model, push, pull request); from the first 202 to
  the last job's end.
- **queue latency under a burst**: `--burst` `/help` comments on as many issues, posted by 16
  senders at once; each queues a job that answers with one comment, so what is measured is the
  queue, not the work: 202 -> lease (the job's `created_at` to its `started_at` in the store),
  p50 and p99, and how long the whole burst took to drain.

GitHub's write pacing (per installation) is off, since every job here is in one installation,
and so are the per-user quotas (one maintainer triggers everything). Nothing is pinned: the
machine's cores are shared by the processes, the containers, PostgreSQL and the fakes, and each
row says how busy the machine was (from /proc/stat) and how much CPU each fixwright process used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.agent_service import FIX, Clock, wait_until
from bench.intake.receivers import fresh_postgres_database
from bench.report import publish
from tests.corpus import comment_on, labeled_issue
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
from tests.fakes.model.server import FakeModelAPI
from tests.fakes.model.threaded import serve_in_thread
from tests.fixtures.sandbox import SANDBOX_IMAGE
from tests.fixtures.service import ServiceProcess, service_environment

SENDERS = 16
FINISHED = ("succeeded", "failed", "cancelled")
JobRow = tuple[str, str, float, float | None, float | None]


@dataclass(frozen=True)
class Fakes:
    github: FakeGitHub
    model_url: str
    model_key: str


@contextlib.contextmanager
def fakes(scratch: Path) -> Iterator[Fakes]:
    """The fake GitHub and the scripted model, each on a real port in a thread of this process."""
    with contextlib.ExitStack() as stack:
        github_clock = Clock(create_app())
        github_url = stack.enter_context(serve(github_clock))
        private_key = generate_private_key()
        state = new_state(scratch / "github", github_url, private_key)
        github_clock.app.state.github = state
        github = FakeGitHub(url=github_url, state=state, app_id=APP_ID, private_key=private_key)
        model = FakeModelAPI(fake_api_key(), FIX)
        model_url = stack.enter_context(serve_in_thread(Clock(model.app)))
        yield Fakes(github, model_url, model.api_key)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot."""
    with open("/proc/stat", encoding="utf-8") as stat:
        numbers = [int(n) for n in stat.readline().split()[1:]]
    idle = numbers[3] + numbers[4]  # idle and iowait
    return sum(numbers) - idle, sum(numbers)


def machine_busy_while(seconds: float) -> float:
    """The share of all cores busy over the next `seconds` (other work, before a run starts)."""
    busy_before, total_before = machine_ticks()
    time.sleep(seconds)
    busy_after, total_after = machine_ticks()
    return (busy_after - busy_before) / max(1, total_after - total_before)


ENGINE_COMMANDS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc")


def engine_cpu_seconds() -> float:
    """CPU seconds used so far by the Docker engine's own processes (not the containers')."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="utf-8") as comm:
                if comm.read().strip() not in ENGINE_COMMANDS:
                    continue
            total += process_cpu_seconds(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Cluster:
    """One web process and `workers` worker processes on one store."""

    store_url: str
    web: ServiceProcess
    workers: list[ServiceProcess]
    fakes: Fakes
    issues: list[int] = field(default_factory=list)

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.web, *self.workers]

    def open_issues(self, count: int) -> list[int]:
        state = self.fakes.github.state
        first = state.issues[(REPOSITORY, 1)]
        return [
            state.add_issue(REPOSITORY, first.title, first.body, MAINTAINER).number
            for _ in range(count)
        ]

    def jobs(self) -> list[JobRow]:
        """(id, state, created_at, started_at, finished_at) of every job in the store."""
        sql = "SELECT id, state, created_at, started_at, finished_at FROM jobs"
        if self.store_url.startswith("sqlite:///"):
            import sqlite3

            with contextlib.closing(
                sqlite3.connect(self.store_url.removeprefix("sqlite:///"))
            ) as db:
                return list(db.execute(sql).fetchall())
        import psycopg

        with psycopg.connect(self.store_url) as db:
            return list(db.execute(sql).fetchall())  # type: ignore[arg-type]

    def cpu_seconds(self) -> list[float]:
        return [process_cpu_seconds(p.process.pid) for p in self.processes if p.process]


@contextlib.contextmanager
def cluster(
    scratch: Path, the_fakes: Fakes, store_url: str, processes: int, workers_per_process: int
) -> Iterator[Cluster]:
    base = service_environment(the_fakes.github, scratch)
    base.update(
        FIXWRIGHT_STORE_URL=store_url,
        FIXWRIGHT_ANTHROPIC_API_KEY=the_fakes.model_key,
        FIXWRIGHT_MODEL_UPSTREAM_URL=the_fakes.model_url,
        FIXWRIGHT_SANDBOX_IMAGE=SANDBOX_IMAGE,
        FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS="900",
        FIXWRIGHT_JOB_LEASE_SECONDS="30",
        FIXWRIGHT_POLL_INTERVAL_SECONDS="1",
        FIXWRIGHT_SHUTDOWN_GRACE_SECONDS="10",
        FIXWRIGHT_QUOTA_JOBS_PER_USER_PER_HOUR="0",
        FIXWRIGHT_QUOTA_CONCURRENT_JOBS="0",
        FIXWRIGHT_GITHUB_WRITE_INTERVAL_SECONDS="0",
        FIXWRIGHT_GITHUB_CONTENT_INTERVAL_SECONDS="0",
    )
    with contextlib.ExitStack() as stack:
        folder = scratch / "web"
        folder.mkdir()
        web = ServiceProcess(
            env={**base, "FIXWRIGHT_ROLE": "web", "FIXWRIGHT_WORKERS": "0",
                 "FIXWRIGHT_STATE_DIR": str(folder / "state")},
            log_path=folder / "service.log",
            store_path=folder / "unused.db",
        )  # fmt: skip
        stack.callback(web.stop)
        web.start()  # applies the store's migrations before any worker starts
        workers = []
        for number in range(processes):
            folder = scratch / f"worker-{number + 1}"
            folder.mkdir()
            worker = ServiceProcess(
                env={**base, "FIXWRIGHT_ROLE": "worker",
                     "FIXWRIGHT_WORKERS": str(workers_per_process),
                     "FIXWRIGHT_STATE_DIR": str(folder / "state")},
                log_path=folder / "service.log",
                store_path=folder / "unused.db",
            )  # fmt: skip
            stack.callback(worker.stop)
            workers.append(worker.start())
        yield Cluster(store_url, web, workers, the_fakes)


@dataclass(frozen=True)
class Phase:
    """What one measurement saw: the jobs it made, how long, and the CPU it took."""

    jobs: list[JobRow]
    started: float  # wall clock (the store's clock) of the first send
    seconds: float
    machine_busy: float  # share of all cores busy, 0..1
    cpu_seconds: list[float]  # per process: web, then the workers
    engine_cpu_seconds: float  # dockerd, containerd and the shims

    @property
    def per_minute(self) -> float:
        return 60 * len(self.jobs) / self.seconds

    @property
    def states(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for job in self.jobs:
            counted[job[1]] = counted.get(job[1], 0) + 1
        return counted

    def queue_latencies(self) -> list[float]:
        return sorted(job[3] - job[2] for job in self.jobs if job[3] is not None)


def measure(running: Cluster, send: list[Any], timeout: float) -> Phase:
    """Send every delivery (16 at once), wait for every job they queued to finish."""
    before = {job[0] for job in running.jobs()}
    busy_before, total_before = machine_ticks()
    cpu_before = running.cpu_seconds()
    engine_before = engine_cpu_seconds()
    started = time.time()
    with ThreadPoolExecutor(SENDERS) as senders:
        answers = list(senders.map(lambda post: post(), send))
    refused = [a for a in answers if a.status_code != 202 or "jobs" not in a.json()]
    if refused:
        raise RuntimeError(f"{len(refused)} deliveries queued nothing: {refused[0].text}")

    def mine() -> list[JobRow]:
        return [job for job in running.jobs() if job[0] not in before]

    def all_finished() -> bool:
        jobs = mine()
        return len(jobs) >= len(send) and all(job[1] in FINISHED for job in jobs)

    wait_until(all_finished, timeout, f"{len(send)} jobs to finish", interval=0.2)
    jobs = mine()
    ended = max(job[4] or 0.0 for job in jobs)
    busy_after, total_after = machine_ticks()
    cpu_after = running.cpu_seconds()
    return Phase(
        jobs=jobs,
        started=started,
        seconds=ended - min(job[2] for job in jobs),
        machine_busy=(busy_after - busy_before) / max(1, total_after - total_before),
        cpu_seconds=[b - a for a, b in zip(cpu_before, cpu_after, strict=True)],
        engine_cpu_seconds=engine_cpu_seconds() - engine_before,
    )


def fix_jobs(running: Cluster, count: int) -> Phase:
    numbers = running.open_issues(count)

    def label(number: int) -> Any:
        return lambda: running.web.post(
            "issues", labeled_issue(REPOSITORY, INSTALLATION_ID, number)
        )

    return measure(running, [label(n) for n in numbers], timeout=120 + 60 * count)


def help_burst(running: Cluster, count: int) -> Phase:
    numbers = running.open_issues(count)

    def ask(number: int) -> Any:
        payload = comment_on(REPOSITORY, INSTALLATION_ID, number, "/help")
        return lambda: running.web.post("issue_comment", payload)

    return measure(running, [ask(n) for n in numbers], timeout=120 + 2 * count)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.4999) - 1))]


@contextlib.contextmanager
def fresh_store(kind: str, server: str, scratch: Path) -> Iterator[str]:
    if kind == "postgresql":
        with fresh_postgres_database(server) as url:
            yield url
    else:
        yield f"sqlite:///{scratch / 'store' / f'{uuid.uuid4().hex}.db'}"


def render(rows: list[tuple[int, Phase, Phase]], args: argparse.Namespace, command: str) -> str:
    lines = [
        "# Cluster: jobs per minute and queue latency by worker processes, one run",
        "",
        f"Command: `{command}`  ",
        f"Store: {args.store}; {args.workers_per_process} worker(s) per process; "
        f"{os.cpu_count()} cores, shared by every process, the containers, the fakes and "
        "the database.",
        "",
        f"Fix jobs: {args.jobs} issues labelled at once, each a full job in the sandbox against "
        "the scripted model.",
        "",
        "| worker processes | jobs | states | seconds | jobs/min | vs 1 process | machine busy "
        "before (other work) | during | CPU s: web, workers | Docker engine CPU s |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    base_fix = rows[0][1].per_minute if rows else 1.0
    for processes, fix, _, before in rows:
        lines.append(
            f"| {processes} | {len(fix.jobs)} | {fix.states} | {fix.seconds:.1f} | "
            f"{fix.per_minute:.1f} | {fix.per_minute / base_fix:.2f}x | "
            f"{100 * before:.0f}% | {100 * fix.machine_busy:.0f}% | "
            + ", ".join(f"{c:.1f}" for c in fix.cpu_seconds)
            + f" | {fix.engine_cpu_seconds:.1f} |"
        )
    lines += [
        "",
        f"Burst: {args.burst} `/help` comments on as many issues, {SENDERS} senders at once; each "
        "job answers with one comment. 202 -> lease is the job's `created_at` to its "
        "`started_at` in the store.",
        "",
        "| worker processes | jobs | states | drained in s | jobs/min | 202 -> lease p50 s "
        "| p99 s | machine busy | CPU s: web, workers |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for processes, _, burst, _ in rows:
        waits = burst.queue_latencies()
        lines.append(
            f"| {processes} | {len(burst.jobs)} | {burst.states} | {burst.seconds:.1f} | "
            f"{burst.per_minute:.0f} | {statistics.median(waits):.2f} | "
            f"{percentile(waits, 0.99):.2f} | {100 * burst.machine_busy:.0f}% | "
            + ", ".join(f"{c:.1f}" for c in burst.cpu_seconds)
            + " |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--workers-per-process", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=9)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    command = "python -m bench.cluster " + shlex.join(sys.argv[1:])
    rows = []
    with tempfile.TemporaryDirectory(prefix="fw-cluster-") as directory:
        scratch = Path(directory)
        with fakes(scratch) as the_fakes:
            for processes in (int(p) for p in args.processes.split(",")):
                run_dir = scratch / f"processes-{processes}"
                run_dir.mkdir()
                before = machine_busy_while(3)
                with (
                    fresh_store(args.store, args.postgres, run_dir) as url,
                    cluster(run_dir, the_fakes, url, processes, args.workers_per_process) as c,
                ):
                    fix_jobs(c, 1)  # warm-up: page cache, mirrors, the first token
                    fix = fix_jobs(c, args.jobs)
                    print(f"{processes} process(es): fix {fix.per_minute:.1f}/min "
                          f"{fix.states} busy {fix.machine_busy:.0%}", flush=True)  # fmt: skip
                    burst = help_burst(c, args.burst)
                    waits = burst.queue_latencies()
                    print(f"{processes} process(es): burst drained in {burst.seconds:.1f} s, "
                          f"202->lease p50 {statistics.median(waits):.2f} s p99 "
                          f"{percentile(waits, 0.99):.2f} s {burst.states}", flush=True)  # fmt: skip
                    rows.append((processes, fix, burst, before))
    publish(render(rows, args, command), args.out)


if __name__ == "__main__":
    main()
