"""Where fixwright's intake spends its time: py-spy samples `fixwright serve` under wrk load.

    pip install py-spy
    python -m bench.intake.profile [--seconds 15] [--connections 32] [--out profile.txt]
        [--postgres postgresql://postgres@127.0.0.1:5432]   (fixwright on a fresh PostgreSQL
                                                             database instead of SQLite)

Prints the functions by inclusive and by own share of samples (the event-loop thread and the
store's worker threads together) and writes the same to `--out`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import secrets
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from bench.intake import receivers
from bench.intake.payloads import payload_mix, write_mix_file
from bench.intake.wrk import run_load
from tests.fakes.github.fixtures import generate_private_key


def summarise(collapsed: str, top: int) -> str:
    """Inclusive and own sample shares per function, from py-spy's collapsed (raw) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame.split(" (")[0] + " " + _location(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"

    def table(title: str, counter: collections.Counter[str]) -> list[str]:
        rows = [f"{title} (of {total:,} samples)"]
        rows += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in counter.most_common(top)]
        return rows

    return "\n".join([*table("inclusive", inclusive), "", *table("own", own)])


def _location(frame: str) -> str:
    """`(file.py:line)` shortened to the package-relative file name."""
    _, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", "/main/"):
        if marker in path:
            return "(" + path.split(marker, 1)[1] + ")"
    return "(" + path + ")"


def main(seconds: int, connections: int, out: Path, top: int, postgres: str | None) -> None:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is missing: pip install py-spy")
    secret = secrets.token_hex(20)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fw-profile-")))
        store_url = None
        if postgres:
            store_url = stack.enter_context(receivers.fresh_postgres_database(postgres))
        mix = payload_mix(secret)
        mix_file = write_mix_file(mix, scratch)
        receiver = receivers.fixwright(
            scratch, secret, generate_private_key(), "python", store_url=store_url
        )
        receiver.command[0] = receivers.default_python()
        receiver.start(core=0)
        try:
            run_load(receiver.url, mix_file, connections=connections, seconds=3, core=1)
            load = threading.Thread(
                target=run_load,
                args=(receiver.url, mix_file),
                kwargs={"connections": connections, "seconds": seconds + 2, "core": 1},
            )
            load.start()
            assert receiver.process is not None
            subprocess.run(
                [py_spy, "record", "--pid", str(receiver.process.pid), "--duration",
                 str(seconds), "--format", "raw", "--output", str(scratch / "stacks.collapsed"),
                 "--threads", "--nonblocking"],
                check=True, capture_output=True,
            )  # fmt: skip
            load.join()
        finally:
            receiver.stop()
        summary = summarise((scratch / "stacks.collapsed").read_text(), top)
    out.write_text(summary + "\n")
    print(summary)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("bench/results/intake-profile.txt"))
    parser.add_argument("--postgres", help="a PostgreSQL server URL: profile on a fresh database")
    arguments = parser.parse_args()
    main(arguments.seconds, arguments.connections, arguments.out, arguments.top,
         arguments.postgres)  # fmt: skip
