"""Two (or more) versions of fixwright's intake beside the peers, in the same run.

    python -m bench.intake.compare --trees /path/to/before,/path/to/after
        [--connections 1,32] [--seconds 8] [--warmup 3] [--runs 3] [--peers probot,starlette]
        [--out bench/results/intake-compare.md] [--postgres postgresql://postgres@127.0.0.1:5432]

Each tree is a checkout (or `git archive` of one) of the repository; its `fixwright serve` runs
with that tree first on PYTHONPATH, with a fresh SQLite store, no workers, pinned to core 0 like
every receiver of bench/intake (with `--postgres`, each version on a fresh PostgreSQL database
of that server instead, created for the run and dropped after it). The rounds are those of `python -m bench.intake`: one run per
receiver per round, so the machine's other work falls on every version alike, and the table
gives each version's ratios to the others and to the peers.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shlex
import sys
import tempfile
from pathlib import Path

from bench.intake import receivers
from bench.intake.__main__ import DESCRIPTIONS, bench_all, checked
from bench.intake.payloads import payload_mix, write_mix_file
from bench.intake.report import ReceiverResult, render
from bench.intake.wrk import ensure_wrk
from tests.fakes.github.fixtures import generate_private_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", required=True, help="comma-separated checkouts")
    parser.add_argument("--peers", default="probot,starlette")
    parser.add_argument("--connections", default="1,32")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/intake-compare.md"))
    parser.add_argument(
        "--postgres", help="a PostgreSQL server URL: each version on a fresh database"
    )
    args = parser.parse_args()
    ensure_wrk()
    receivers.install_node_peers()
    secret, key = secrets.token_hex(20), generate_private_key()
    descriptions = dict(DESCRIPTIONS)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fw-compare-")))
        mix = payload_mix(secret)
        mix_file = write_mix_file(mix, scratch)
        chosen = []
        for tree in args.trees.split(","):
            name = f"fixwright@{Path(tree).name}"
            store_url = None
            if args.postgres:
                store_url = stack.enter_context(receivers.fresh_postgres_database(args.postgres))
            receiver = receivers.fixwright(
                scratch, secret, key, sys.executable, store_url=store_url, name=name
            )
            receiver.env["PYTHONPATH"] = str(Path(tree).resolve())
            descriptions[name] = f"`fixwright serve` from `{tree}`; " + DESCRIPTIONS["fixwright"]
            chosen.append(receiver)
        peers = {
            "probot": lambda: receivers.probot(scratch, secret, key),
            "starlette": lambda: receivers.starlette(scratch, secret, sys.executable),
            "octokit": lambda: receivers.octokit(scratch, secret),
        }
        chosen += [peers[name]() for name in args.peers.split(",") if name]
        try:
            for receiver in chosen:
                receiver.start(0, args.nice)
            statuses = {receiver.name: checked(receiver, mix) for receiver in chosen}
            measured = bench_all(chosen, args, mix_file)
        finally:
            for receiver in chosen:
                receiver.stop()
    results = [
        ReceiverResult(r.name, descriptions[r.name], statuses[r.name], tuple(measured[r.name]))
        for r in chosen
    ]
    settings = {
        "connections": args.connections,
        "warm-up s": f"{args.warmup:g}",
        "measured runs": f"{args.runs} x {args.seconds:g} s",
        "server core": "0",
        "load core": str(args.load_core),
    }
    table = render(results, settings, "python -m bench.intake.compare " + shlex.join(sys.argv[1:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
