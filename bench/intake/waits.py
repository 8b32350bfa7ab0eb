"""What a lone delivery waits for: fixwright's intake at one connection, with clocks inside.

    python -m bench.intake.waits [--seconds 20] [--connections 1] [--out bench/results/intake-waits.md]

Starts `fixwright serve` (fresh SQLite store, no workers, pinned to core 0) through
bench/intake/probed_serve.py, loads it with wrk and the signed mix (core 1), and on stopping
reads each delivery's time inside the endpoint and every interval that may have held it: the
lane's flush and transaction, the checkpointer's checkpoints, garbage collections, log writes.
For the slowest deliveries (above the server-side p99) it sums how much of their time each kind
of interval overlapped, so the tail is attributed to what happened, not to a guess.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
from pathlib import Path

from bench.intake import receivers
from bench.intake.payloads import payload_mix, write_mix_file
from bench.intake.wrk import LoadRun, run_load
from tests.fakes.github.fixtures import generate_private_key

Interval = tuple[float, float]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def overlap(a: Interval, b: Interval) -> float:
    start = max(a[0], b[0])
    end = min(a[0] + a[1], b[0] + b[1])
    return max(0.0, end - start)


def attribute(timings: dict[str, list[Interval]], slow: list[Interval]) -> dict[str, float]:
    """Per kind: the share of the slow deliveries' time that intervals of that kind overlapped."""
    total = sum(d for _, d in slow) or 1.0
    shares = {}
    for kind, intervals in timings.items():
        if kind == "delivery":
            continue
        ordered = sorted(intervals)
        covered = 0.0
        for delivery in slow:
            covered += sum(
                overlap(delivery, other)
                for other in ordered
                if other[0] < delivery[0] + delivery[1] and other[0] + other[1] > delivery[0]
            )
        shares[kind] = covered / total
    return shares


def report(timings: dict[str, list[Interval]], load: LoadRun, connections: int) -> str:
    deliveries = timings["delivery"]
    durations = [d for _, d in deliveries]
    p99 = quantile(durations, 0.99)
    slow = [d for d in deliveries if d[1] >= p99]
    lines = [
        f"# What a delivery waits for ({connections} connection(s))",
        "",
        f"wrk: {load.requests_per_second:,.0f} requests/s, p50 {load.p50_ms:.2f} ms, "
        f"p99 {load.p99_ms:.2f} ms, errors {load.non_2xx + load.socket_errors + load.timeouts}",
        "",
        "| interval | count | p50 ms | p99 ms | max ms | total s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, intervals in timings.items():
        values = [d for _, d in intervals]
        if not values:
            lines.append(f"| {kind} | 0 | | | | |")
            continue
        lines.append(
            f"| {kind} | {len(values):,} | {1000 * statistics.median(values):.3f} | "
            f"{1000 * quantile(values, 0.99):.3f} | {1000 * max(values):.3f} | {sum(values):.2f} |"
        )
    lines += [
        "",
        f"Deliveries at or above the server-side p99 ({1000 * p99:.3f} ms): {len(slow)}, "
        "share of their time overlapped by each kind of interval:",
        "",
        "| interval | share of the slow deliveries' time |",
        "| --- | ---: |",
    ]
    for kind, share in sorted(attribute(timings, slow).items(), key=lambda item: -item[1]):
        lines.append(f"| {kind} | {100 * share:.1f}% |")
    return "\n".join(lines) + "\n"


def usage_report(usage: list[tuple[float, float, float, int, int]]) -> str:
    """Working or waiting: the slow deliveries' CPU time on the loop thread, and its switches."""
    p99 = quantile([u[1] for u in usage], 0.99)
    rows = [
        ("all", usage),
        ("at or above p99", [u for u in usage if u[1] >= p99]),
        ("below p99", [u for u in usage if u[1] < p99]),
    ]
    lines = [
        "",
        "Loop thread during each delivery (getrusage per thread):",
        "",
        "| deliveries | count | mean wall ms | mean CPU ms | CPU share | with an involuntary "
        "switch | with a voluntary switch |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, part in rows:
        if not part:
            continue
        wall = sum(u[1] for u in part)
        cpu = sum(u[2] for u in part)
        lines.append(
            f"| {name} | {len(part):,} | {1000 * wall / len(part):.3f} | "
            f"{1000 * cpu / len(part):.3f} | {100 * cpu / (wall or 1):.0f}% | "
            f"{100 * sum(1 for u in part if u[3]) / len(part):.1f}% | "
            f"{100 * sum(1 for u in part if u[4]) / len(part):.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/intake-waits.md"))
    args = parser.parse_args()
    secret = secrets.token_hex(20)
    with tempfile.TemporaryDirectory(prefix="fw-waits-") as directory:
        scratch = Path(directory)
        mix = payload_mix(secret)
        mix_file = write_mix_file(mix, scratch)
        receiver = receivers.fixwright(scratch, secret, generate_private_key(), "python")
        receiver.command = [receivers.default_python(), "-m", "bench.intake.probed_serve"]
        receiver.env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        timings_file = scratch / "timings.json"
        receiver.env["FIXWRIGHT_BENCH_TIMINGS"] = str(timings_file)
        receiver.start(core=0)
        try:
            run_load(receiver.url, mix_file, connections=args.connections,
                     seconds=args.warmup, core=1)  # fmt: skip
            load = run_load(receiver.url, mix_file, connections=args.connections,
                            seconds=args.seconds, core=1)  # fmt: skip
        finally:
            receiver.stop()
        timings = {
            k: [tuple(i) for i in v] for k, v in json.loads(timings_file.read_text()).items()
        }
    usage = timings.pop("usage")
    text = report(timings, load, args.connections) + usage_report(usage)  # type: ignore[arg-type]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
