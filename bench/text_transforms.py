"""Text transforms: each one's time on adversarial and on ordinary text, against `str.replace`.

Every transform fixwright runs over text someone else wrote (tests/adversarial_text.py lists
them) is timed on an input built against its patterns and on ordinary text of the same size,
and each time is divided by the time of one `str.replace` pass over the same text: the machine
is noisy, so ratios within one run are what compare. A linear transform keeps a similar ratio
on both inputs; a quadratic one would not finish on the adversarial megabyte at all.

    python -m bench.text_transforms [--size 1000000] [--repeat 5] [--out bench/results/text_transforms.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import publish
from tests.adversarial_text import CASES, MEGABYTE, TextCase


def seconds(work: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` runs of `work`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ratio(case: TextCase, text: str, repeat: int) -> float:
    """The transform's time on `text` over one `str.replace` pass's time on the same text."""
    baseline = seconds(lambda: text.replace("<", "&lt;"), repeat)
    return seconds(lambda: case.transform(text), repeat) / baseline


def render(size: int, rows: list[tuple[str, float, float]]) -> str:
    lines = [
        f"# Text transforms on {size:,} characters, as a multiple of one `str.replace` pass",
        "",
        "| transform: adversarial input | adversarial (times) | ordinary (times) |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {bad:,.1f} | {good:,.1f} |" for name, bad, good in rows]
    return "\n".join([*lines, ""])


def main(size: int, repeat: int, out: Path | None) -> None:
    rows = []
    for case in CASES:
        row = (
            case.name,
            ratio(case, case.adversarial(size), repeat),
            ratio(case, case.ordinary(size), repeat),
        )
        print(
            f"{row[0]}: adversarial {row[1]:,.1f} times, ordinary {row[2]:,.1f} times", flush=True
        )
        rows.append(row)
    table = render(size, rows)
    publish(table, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=MEGABYTE)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    main(arguments.size, arguments.repeat, arguments.out)
