"""A lone delivery's write: `record_delivery` calls one after the other on the SQLite store.

    python -m bench.intake.lone_write [--seconds 8] [--rounds 4] [--out bench/results/lone_write.md]

No HTTP and no peer: one process (pinned to core 0) writes deliveries one at a time, as the
intake does at one connection, for `--seconds`, in `--rounds` fresh stores. Per round: the
write's p50, p99, p99.9 and longest time; how many transactions took over a millisecond; the
checkpoints (their count and share of the time) and how many times the lane found itself held
back by a full checkpoint. To compare two versions of the store, run it in both checkouts in
turns (the machine's other work moves the figures between minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from app.store import Delivery, lane
from app.store.sqlite import SQLiteStore

Interval = tuple[float, float]


class Clocks:
    """Timings of the store's own steps, by wrapping the lane's functions (nothing else changes)."""

    def __init__(self) -> None:
        self.checkpoints: list[Interval] = []
        self.transactions: list[float] = []
        self.held_back = 0
        checkpoint, flush, run_batch = (
            lane.Checkpointer._checkpoint,
            lane.Lane._flush,
            lane.run_batch,
        )

        def timed_checkpoint(checkpointer: Any, *args: Any) -> None:
            started = time.perf_counter()
            checkpoint(checkpointer, *args)
            self.checkpoints.append((started, time.perf_counter() - started))

        def counted_flush(the_lane: Any, loop: Any, waited: float) -> None:
            self.held_back += 1 if waited else 0
            flush(the_lane, loop, waited)

        def timed_batch(db: Any, batch: Any) -> Any:
            started = time.perf_counter()
            try:
                return run_batch(db, batch)
            finally:
                self.transactions.append(time.perf_counter() - started)

        lane.Checkpointer._checkpoint = timed_checkpoint  # type: ignore[method-assign]
        lane.Lane._flush = counted_flush  # type: ignore[method-assign]
        lane.run_batch = timed_batch

    def reset(self) -> None:
        self.checkpoints, self.transactions, self.held_back = [], [], 0


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one_round(seconds: float, clocks: Clocks) -> tuple[list[float], float]:
    clocks.reset()
    with tempfile.TemporaryDirectory(prefix="fw-lone-") as directory:
        store = SQLiteStore(Path(directory) / "fixwright.db")
        times: list[float] = []
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            delivery = Delivery(
                id=str(uuid.uuid4()),
                event="issues",
                action="labeled",
                installation_id=1,
                repository="octo/hello",
                outcome="ignored",
            )
            begun = time.perf_counter()
            await store.record_delivery(delivery, [])
            times.append(time.perf_counter() - begun)
            await asyncio.sleep(0)  # the loop turns between requests, as it does under HTTP
        await store.close()
    return sorted(times), time.perf_counter() - started


def row(number: int, times: list[float], clocks: Clocks, seconds: float) -> str:
    busy = sum(d for _, d in clocks.checkpoints) / seconds
    slow = sum(1 for d in clocks.transactions if d > 0.001)
    return (
        f"| {number} | {len(times):,} | {1000 * statistics.median(times):.3f} | "
        f"{1000 * quantile(times, 0.99):.3f} | {1000 * quantile(times, 0.999):.2f} | "
        f"{1000 * times[-1]:.1f} | {slow} | {len(clocks.checkpoints)} ({busy:.0%}) | "
        f"{clocks.held_back} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    lines = [
        "# A lone delivery's write on the SQLite store",
        "",
        f"Command: `python -m bench.intake.lone_write {' '.join(sys.argv[1:])}`",
        "",
        "| round | writes | p50 ms | p99 ms | p99.9 ms | longest ms | transactions over 1 ms "
        "| checkpoints (share of the time) | held back by a full checkpoint |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    clocks = Clocks()
    for number in range(1, args.rounds + 1):
        times, seconds = asyncio.run(one_round(args.seconds, clocks))
        lines.append(row(number, times, clocks, seconds))
        print(lines[-1], flush=True)
    text = "\n".join([*lines, ""])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
