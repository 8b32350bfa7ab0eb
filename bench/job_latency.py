"""Job latency: webhook 202 -> first model request, and model's final answer -> PR on GitHub.

One `fixwright serve` (one worker, warm sandbox image) against the fake GitHub and the scripted
model; jobs run one after the other, each on its own issue, and the first is a warm-up.

    python -m bench.job_latency [--jobs 20] [--out bench/results/job_latency.md]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.agent_service import AgentService, agent_service, wait_until


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def one_job(running: AgentService, number: int, done_before: int) -> tuple[float, float, float]:
    """Seconds: 202 -> first model request, final answer -> PR created, 202 -> PR created."""
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
    return first - answered, created - final, created - answered


def render(jobs: int, first: list[float], to_pr: list[float], whole: list[float]) -> str:
    def row(name: str, values: list[float]) -> str:
        return (
            f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} | "
            f"{min(values):.2f} | {max(values):.2f} |"
        )

    return "\n".join(
        [
            f"# Job latency: {jobs} fix jobs, one at a time, warm image",
            "",
            "| interval | p50 s | p95 s | min s | max s |",
            "| --- | ---: | ---: | ---: | ---: |",
            row("webhook 202 → first model request (container, clone, CLI start)", first),
            row("model's final answer → PR created on GitHub", to_pr),
            row("webhook 202 → PR created (the whole job)", whole),
            "",
        ]
    )


def main(jobs: int, out: Path | None) -> None:
    first, to_pr, whole = [], [], []
    with agent_service(workers=1) as running:
        numbers = running.add_issues(jobs + 1)
        one_job(running, numbers[0], 0)  # warm-up: page cache, first token, git objects
        for done, number in enumerate(numbers[1:], start=1):
            a, b, c = one_job(running, number, done)
            first.append(a)
            to_pr.append(b)
            whole.append(c)
            print(
                f"job {done:2d}: first request {a:.3f} s, answer -> PR {b:.3f} s, whole {c:.3f} s"
            )
    table = render(jobs, first, to_pr, whole)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
    print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    main(arguments.jobs, arguments.out)
