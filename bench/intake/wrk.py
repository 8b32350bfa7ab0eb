"""Run wrk (pinned to the load core) with load.lua and read back its numbers."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.intake.payloads import BENCH_DIR

LOAD_SCRIPT = BENCH_DIR / "load.lua"


@dataclass(frozen=True)
class LoadRun:
    """One wrk run: throughput, latency and every error it counted."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.timeouts == 0


@dataclass(frozen=True)
class Measurement:
    """The medians of several measured runs at one connection count."""

    connections: int
    runs: tuple[LoadRun, ...]

    @property
    def requests_per_second(self) -> float:
        return statistics.median(run.requests_per_second for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.non_2xx + run.socket_errors + run.timeouts for run in self.runs)


def ensure_wrk() -> str:
    """wrk's path, installing Debian's package when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is still missing after `apt-get install wrk`")
    return found


def run_load(
    url: str,
    mix_file: Path,
    *,
    connections: int,
    seconds: float,
    core: int,
    nice: int = 0,
    script: Path = LOAD_SCRIPT,
    arguments: Sequence[str] = (),
) -> LoadRun:
    """One wrk run of `seconds` with one thread on `core`; every request a fresh delivery id.

    A negative `nice` puts wrk ahead of everything else on its core (needs root), for runs where
    other work shares the machine: the senders it stands for are on other machines. Another
    `script` takes its own `arguments` instead of the mix file and the delivery ids' prefix.
    """
    prefix = str(uuid.uuid4())[:23]  # the first four groups; load.lua adds a 12-digit counter
    passed = list(arguments) or [str(mix_file), prefix]
    command = [
        "nice", "-n", str(nice), "taskset", "-c", str(core), ensure_wrk(), "-t1", f"-c{connections}", f"-d{round(seconds)}s",
        "--timeout", "10s", "-s", str(script), url, "--", *passed,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    if result is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    numbers = json.loads(result.removeprefix("RESULT "))
    return LoadRun(
        requests=numbers["requests"],
        seconds=numbers["duration_us"] / 1e6,
        non_2xx=numbers["non_2xx"],
        socket_errors=numbers["socket_errors"],
        timeouts=numbers["timeouts"],
        p50_ms=numbers["p50_us"] / 1000,
        p99_ms=numbers["p99_us"] / 1000,
    )
