"""Run the intake benchmark: the receivers on one core, wrk on the other, in rounds; write the table.

python -m bench.intake --out bench/results/intake.md    (from the repository root)
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.intake import receivers
from bench.intake.payloads import SignedDelivery, payload_mix, write_mix_file
from bench.intake.receivers import Receiver
from bench.intake.report import ReceiverResult, render
from bench.intake.wrk import LoadRun, Measurement, ensure_wrk, run_load
from tests.fakes.github.fixtures import generate_private_key

DESCRIPTIONS = {
    "fixwright": "`fixwright serve`, fresh SQLite store, no workers; every delivery verified, "
    "de-duplicated and written durably before the 202.",
    "fixwright-pg": "`fixwright serve` on a fresh PostgreSQL database (created for the run and "
    "dropped after it; the server itself is not pinned), no workers; the same intake as "
    "fixwright's, committed in PostgreSQL before the 202.",
    "starlette": "bare Starlette + uvicorn: HMAC check and JSON parse, nothing stored "
    "(bench/intake/peers/starlette_receiver.py).",
    "probot": "a minimal Probot app (`probot run`), default in-memory handling and logging.",
    "octokit": "`@octokit/webhooks` middleware on node's http server, in memory.",
}
ORDER = ("starlette", "probot", "octokit", "fixwright", "fixwright-pg")
DEFAULT_RECEIVERS = ("starlette", "probot", "octokit", "fixwright")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/intake.md"))
    parser.add_argument("--connections", default="1,32", help="comma-separated, e.g. 1,32")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--receivers", default=",".join(DEFAULT_RECEIVERS), help="a subset of " + str(ORDER)
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432",
        help="the PostgreSQL server fixwright-pg gets a fresh database on",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the Python receivers"
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the receivers and of wrk (negative needs root): -20 keeps other work "
        "on a shared machine from deciding the tail latencies",
    )
    return parser.parse_args()


def build_receivers(
    scratch: Path, secret: str, python: str, postgres_url: str
) -> dict[str, Callable[[], Receiver]]:
    key = generate_private_key()
    return {
        "fixwright": lambda: receivers.fixwright(scratch, secret, key, python),
        "fixwright-pg": lambda: receivers.fixwright(
            scratch, secret, key, python, store_url=postgres_url, name="fixwright-pg"
        ),
        "starlette": lambda: receivers.starlette(scratch, secret, python),
        "probot": lambda: receivers.probot(scratch, secret, key),
        "octokit": lambda: receivers.octokit(scratch, secret),
    }


def checked(receiver: Receiver, mix: list[SignedDelivery]) -> tuple[int, ...]:
    """The statuses it answered to one pass of the mix (a fast 4xx is not a result)."""
    statuses = tuple(receiver.statuses_for(mix))
    print(f"{receiver.name}: answered {sorted(set(statuses))} to the mix", flush=True)
    return statuses


def bench_all(
    running: list[Receiver], args: argparse.Namespace, mix_file: Path
) -> dict[str, list[Measurement]]:
    """Per connection count: warm every receiver up, then measured rounds, one run per receiver
    per round, so noise from anything else on the machine falls on all of them alike."""
    measured: dict[str, list[Measurement]] = {receiver.name: [] for receiver in running}
    for count in (int(c) for c in args.connections.split(",")):
        runs: dict[str, list[LoadRun]] = {receiver.name: [] for receiver in running}
        for receiver in running:
            run_load(receiver.url, mix_file, connections=count, seconds=args.warmup,
                     core=args.load_core, nice=args.nice)  # fmt: skip
        for round_number in range(args.runs):
            for receiver in running:
                run = run_load(receiver.url, mix_file, connections=count, seconds=args.seconds,
                               core=args.load_core, nice=args.nice)  # fmt: skip
                runs[receiver.name].append(run)
                print(
                    f"c={count} round {round_number + 1}: {receiver.name} "
                    f"{run.requests_per_second:,.0f} req/s, p99 {run.p99_ms:.2f} ms",
                    flush=True,
                )
        for name, done in runs.items():
            measured[name].append(Measurement(count, tuple(done)))
    return measured


def main() -> None:
    args = parse_arguments()
    ensure_wrk()
    receivers.install_node_peers()
    secret = secrets.token_hex(20)
    names = args.receivers.split(",")
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fw-intake-")))
        postgres_url = ""
        if "fixwright-pg" in names:
            postgres_url = stack.enter_context(receivers.fresh_postgres_database(args.postgres))
        mix = payload_mix(secret)
        mix_file = write_mix_file(mix, scratch)
        factories = build_receivers(scratch, secret, args.python, postgres_url)
        chosen = [factories[name]() for name in names]
        try:
            for receiver in chosen:
                receiver.start(args.server_core, args.nice)
            statuses = {receiver.name: checked(receiver, mix) for receiver in chosen}
            ready = [r for r in chosen if all(200 <= s < 300 for s in statuses[r.name])]
            measured = bench_all(ready, args, mix_file)
        finally:
            for receiver in chosen:
                receiver.stop()
        results = [
            ReceiverResult(
                name=receiver.name,
                description=DESCRIPTIONS[receiver.name],
                statuses=statuses[receiver.name],
                measurements=tuple(measured.get(receiver.name, ())),
                stored=receiver.stored_count() if receiver.stored_count else None,
            )
            for receiver in chosen
        ]
    settings = {
        "connections": args.connections,
        "warm-up s": f"{args.warmup:g}",
        "measured runs": f"{args.runs} x {args.seconds:g} s",
        "mix": f"{len(mix)} signed bodies (" + ", ".join(sorted({d.event for d in mix})) + ")",
        "server core": str(args.server_core),
        "load core": str(args.load_core),
        "nice": str(args.nice),
    }
    command = "python -m bench.intake " + shlex.join(sys.argv[1:])
    table = render(results, settings, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
