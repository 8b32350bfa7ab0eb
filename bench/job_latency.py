"""Job latency: webhook 202 -> first model request, and model's final answer -> PR on GitHub.

One `fixwright serve` (one worker, warm sandbox image) against the fake GitHub and the scripted
model; jobs run one after the other, each on its own issue, and the first is a warm-up. Each job
starts in a quiet installation: GitHub's write pacing is per installation, so back to back, a
job's first write would wait for the previous job's last one (`QUIET_SECONDS`).

    python -m bench.job_latency [--jobs 20] [--out bench/results/job_latency.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.agent_service import AgentService, agent_service, wait_until
from bench.report import publish

# The content interval of the default write pacing: the installation has made no write for as long.
QUIET_SECONDS = 3.0


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


INTERVALS = (
    ("webhook 202 → first model request (container, clone, CLI start)", "first_request"),
    ("  of which: 202 → clone starts (lease, token, permission check, reaction)", "to_clone"),
    ("  of which: clone (git over smart HTTP from the fake GitHub)", "clone"),
    ("  of which: clone done → first model request (container and CLI start)", "to_cli"),
    ("model's final answer → PR created on GitHub", "to_pull"),
    ("webhook 202 → PR created (the whole job)", "whole"),
)


def one_job(running: AgentService, number: int, done_before: int) -> dict[str, float]:
    """Seconds of each interval in INTERVALS for one labelled issue, and the bytes GitHub sent
    for its git requests before the first model request."""
    seen_before = len(running.model_clock.seen())
    github_before = len(running.github_clock.seen())
    answered = running.label(number)
    created = wait_until(
        lambda: running.pull_created_after(github_before), 300, f"the PR of #{number}"
    )
    wait_until(lambda: len(running.finished_jobs()) > done_before, 60, f"job #{number} to finish")
    exchanges = running.model_clock.seen()[seen_before:]
    first = min(e.started for e in exchanges if e.path == "/v1/messages")
    final = max(e.ended for e in exchanges if e.path == "/v1/messages" and e.ended <= created)
    [job] = running.finished_jobs()[done_before:]
    if job.get("state") != "succeeded":
        raise RuntimeError(f"job for #{number} did not succeed: {job}")
    clone = [
        e
        for e in running.github_clock.seen()[github_before:]
        if e.path.endswith("/git-upload-pack") and e.ended <= first
    ]
    clone_start = min(e.started for e in clone)
    clone_end = max(e.ended for e in clone)
    return {
        "fetched_bytes": sum(e.sent for e in clone),
        "first_request": first - answered,
        "to_clone": clone_start - answered,
        "clone": clone_end - clone_start,
        "to_cli": first - clone_end,
        "to_pull": created - final,
        "whole": created - answered,
    }


def render(jobs: int, samples: list[dict[str, float]]) -> str:
    lines = [
        f"# Job latency: {jobs} fix jobs, one at a time, warm image",
        "",
        "| interval | p50 s | p95 s | min s | max s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for title, key in INTERVALS:
        values = [sample[key] for sample in samples]
        lines.append(
            f"| {title} | {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} | "
            f"{min(values):.2f} | {max(values):.2f} |"
        )
    return "\n".join([*lines, ""])


def main(jobs: int, out: Path | None) -> None:
    samples = []
    with agent_service(workers=1) as running:
        numbers = running.add_issues(jobs + 1)
        one_job(running, numbers[0], 0)  # warm-up: page cache, first token, git objects
        for done, number in enumerate(numbers[1:], start=1):
            time.sleep(QUIET_SECONDS)
            sample = one_job(running, number, done)
            samples.append(sample)
            print(
                f"job {done:2d}: "
                + ", ".join(f"{key} {value:.3f} s" for key, value in sample.items()),
                flush=True,
            )
    table = render(jobs, samples)
    publish(table, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    main(arguments.jobs, arguments.out)
