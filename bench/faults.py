"""Intake latency while a fork bomb, a memory hog and an endless loop run in three sandboxes.

One `fixwright serve` with three workers runs three fix jobs whose commands misbehave (the same
scenario as tests/test_faults_sandbox.py). Signed deliveries that queue nothing (a label other
than the trigger) are posted one after another, first with the service idle, then while the three
jobs run; their round-trip latencies are compared.

    python -m bench.faults [--seconds 20] [--out bench/results/faults.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.agent_service import agent_service, wait_until
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.test_faults_sandbox import LIMITS, SCENARIO


def quiet_delivery() -> dict[str, object]:
    """A signed-off `issues.labeled` with a label fixwright ignores: intake work, no job."""
    payload = labeled_issue(REPOSITORY, INSTALLATION_ID, 1)
    payload["label"] = {**payload["label"], "name": "bug"}
    return payload


def sample_latency(service: object, seconds: float) -> list[float]:
    """Round-trip milliseconds of deliveries posted back to back for `seconds`."""
    latencies: list[float] = []
    payload = quiet_delivery()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = service.post("issues", payload)  # type: ignore[attr-defined]
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 300:
            raise RuntimeError(f"intake answered {response.status_code}: {response.text}")
        time.sleep(0.02)
    return latencies


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"| {name} | {len(ordered)} | {statistics.median(ordered):.1f} | {p99:.1f} | "
        f"{ordered[-1]:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    with agent_service(workers=3, scenario=SCENARIO) as bench:
        bench.service.stop()
        bench.service.start(**LIMITS)
        bench.add_issues(2)
        idle = sample_latency(bench.service, args.seconds)
        for number in (1, 2, 3):
            bench.label(number)
        wait_until(lambda: len(bench.model_clock.seen()) >= 3, 120, "the three runs to start")
        during = sample_latency(bench.service, args.seconds)
        jobs = wait_until(
            lambda: len(bench.finished_jobs()) >= 3 and bench.finished_jobs(), 300, "the jobs"
        )
        endings = ", ".join(f"{job['state']} ({job['summary'][:60]})" for job in jobs)

    lines = [
        "# Intake latency while three sandboxes misbehave",
        "",
        f"Deliveries posted back to back for {args.seconds:.0f} s each; milliseconds.",
        "",
        "| service | deliveries | p50 | p99 | max |",
        "| --- | --- | --- | --- | --- |",
        summary("idle", idle),
        summary("fork bomb + memory hog + endless loop", during),
        "",
        f"Jobs ended: {endings}",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
