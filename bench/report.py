"""What every benchmark does with its table, and the command line of those measured in rounds."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def publish(table: str, out: Path | None) -> None:
    """Print the table, and write it to `out` (under bench/results/) when given."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
    print(table)


def run_rounds(doc: str, main: Callable[[int, Path | None], None], rounds: int) -> None:
    """`--rounds N --out FILE`, then `main(rounds, out)`; the first line of `doc` is the help."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    main(arguments.rounds, arguments.out)
