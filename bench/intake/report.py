"""The Markdown table of one harness run: medians per receiver, and fixwright's ratios to the peers."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.intake.wrk import Measurement


@dataclass(frozen=True)
class ReceiverResult:
    """What one receiver did in this run."""

    name: str
    description: str
    statuses: tuple[int, ...]
    measurements: tuple[Measurement, ...]
    stored: int | None = None  # deliveries in its store after the run, when it has one

    def at(self, connections: int) -> Measurement | None:
        return next((m for m in self.measurements if m.connections == connections), None)

    @property
    def answered(self) -> int:
        return sum(run.requests for m in self.measurements for run in m.runs)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo", encoding="utf-8")  # noqa: SIM115
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}; Python {platform.python_version()}; node {node}"


def render(results: Sequence[ReceiverResult], settings: Mapping[str, str], command: str) -> str:
    lines = [
        "# Webhook intake: fixwright and its peers, one run",
        "",
        f"Command: `{command}`  ",
        "Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items()) + "  ",
        f"Machine: {machine()}",
        "",
        "| receiver | connections | requests/s (median) | p99 ms (median) | runs: requests/s | errors |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for result in results:
        if not result.measurements:
            lines.append(
                f"| {result.name} | — | not measured: answered {sorted(set(result.statuses))} "
                "to the mix | | | |"
            )
        for m in result.measurements:
            each = ", ".join(f"{run.requests_per_second:,.0f}" for run in m.runs)
            lines.append(
                f"| {result.name} | {m.connections} | {m.requests_per_second:,.0f} | "
                f"{m.p99_ms:.2f} | {each} | {m.errors} |"
            )
    lines += ["", *ratio_table(results), "", *receiver_notes(results)]
    return "\n".join(lines) + "\n"


def ratio_table(results: Sequence[ReceiverResult]) -> list[str]:
    """Each fixwright receiver's requests/s and p99 as multiples of every other receiver's (the
    peers, and fixwright on the other store), at each connection count."""
    ours = [r for r in results if r.name.startswith("fixwright")]
    if not ours:
        return []
    lines = [
        "fixwright relative to each other receiver (same run): requests/s ratio (higher is "
        "better), p99 ratio (lower is better)",
        "",
        "| fixwright | against | connections | requests/s ratio | p99 ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for mine_result in ours:
        for peer in results:
            if peer is mine_result:
                continue
            for mine in mine_result.measurements:
                theirs = peer.at(mine.connections)
                if theirs is None:
                    continue
                lines.append(
                    f"| {mine_result.name} | {peer.name} | {mine.connections} | "
                    f"{mine.requests_per_second / theirs.requests_per_second:.2f}x | "
                    f"{mine.p99_ms / theirs.p99_ms:.2f}x |"
                )
    return lines


def receiver_notes(results: Sequence[ReceiverResult]) -> list[str]:
    lines = ["Receivers:", ""]
    for result in results:
        stored = ""
        if result.stored is not None:
            stored = (
                f" Stored {result.stored:,} deliveries for {result.answered:,} answered "
                "measured requests (plus checks and warm-ups)."
            )
        lines.append(f"- **{result.name}**: {result.description}{stored}")
    return lines
