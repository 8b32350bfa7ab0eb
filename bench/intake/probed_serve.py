"""`fixwright serve` with clocks on what a delivery may wait for; the timings go to a file on exit.

Run by bench/intake/waits.py, never by the service. Each interval is (start, seconds) on
`time.perf_counter`, which every thread shares: a delivery (the endpoint's whole call), the
lane's flushes and, inside them, the transactions; the checkpointer's checkpoints (its thread);
garbage collections; log line writes. Nothing of the service changes but these wrappers.
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

Intervals = list[tuple[float, float]]
TIMINGS: dict[str, list[Any]] = {
    "delivery": [],
    "flush": [],
    "transaction": [],
    "checkpoint": [],
    "gc": [],
    "gc2": [],
    "log_write": [],
}
# Per delivery: (start, seconds, the loop thread's CPU seconds, involuntary and voluntary context
# switches) over the same span: a slow delivery that used little CPU was preempted or blocked.
DELIVERY_USAGE: list[tuple[float, float, float, int, int]] = []


def thread_usage() -> tuple[float, int, int]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime, usage.ru_nivcsw, usage.ru_nvcsw


def timed_delivery(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        cpu, involuntary, voluntary = thread_usage()
        try:
            return await function(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            cpu_after, involuntary_after, voluntary_after = thread_usage()
            TIMINGS["delivery"].append((started, seconds))
            DELIVERY_USAGE.append(
                (
                    started,
                    seconds,
                    cpu_after - cpu,
                    involuntary_after - involuntary,
                    voluntary_after - voluntary,
                )
            )

    return wrapper


def timed_sync(kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMINGS[kind].append((started, time.perf_counter() - started))

    return wrapper


def timed_async(kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            TIMINGS[kind].append((started, time.perf_counter() - started))

    return wrapper


def install() -> None:
    from app import log, webhook_endpoint
    from app.store import lane

    webhook_endpoint.WebhookEndpoint.__call__ = timed_delivery(  # type: ignore[method-assign]
        webhook_endpoint.WebhookEndpoint.__call__
    )
    lane.Lane._flush = timed_sync("flush", lane.Lane._flush)  # type: ignore[method-assign]
    lane.run_batch = timed_sync("transaction", lane.run_batch)
    lane.Checkpointer._checkpoint = timed_sync(  # type: ignore[method-assign]
        "checkpoint", lane.Checkpointer._checkpoint
    )
    log.CurrentStream.write = timed_sync("log_write", log.CurrentStream.write)  # type: ignore[method-assign]
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[:] = [time.perf_counter()]
        elif gc_started:
            kind = "gc2" if info["generation"] == 2 else "gc"
            TIMINGS[kind].append((gc_started[0], time.perf_counter() - gc_started[0]))

    gc.callbacks.append(on_gc)
    atexit.register(dump)


def dump() -> None:
    with open(os.environ["FIXWRIGHT_BENCH_TIMINGS"], "w", encoding="utf-8") as out:
        json.dump({**TIMINGS, "usage": DELIVERY_USAGE}, out)


if __name__ == "__main__":
    install()
    from app.cli import main

    sys.exit(main(["serve"]))
