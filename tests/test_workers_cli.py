"""`fixwright workers`: the registry as a table for people and as JSON for tools, read from the
store alone (no App credentials), on either engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from app.workers_registry import Registration
from tests.pg import open_test_store

ROOT = Path(__file__).resolve().parent.parent


def workers_command(store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIXWRIGHT_")}
    env.update(FIXWRIGHT_STORE_URL=store_url, FIXWRIGHT_JOB_LEASE_SECONDS="60")
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "workers", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def register(store_url: str, *rows: tuple[Registration, tuple[str, ...], float]) -> None:
    store = open_test_store(store_url)
    try:
        for registration, running, beat_at in rows:
            await store.beat_worker(registration.record(running, beat_at))
    finally:
        await store.close()


def test_an_empty_registry_says_how_to_start_a_worker(store_url: str) -> None:
    asyncio.run(register(store_url))
    shown = workers_command(store_url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (
        "no worker process is registered: start one with `fixwright serve --role worker`\n"
    )
    assert json.loads(workers_command(store_url, "--json").stdout) == []


def test_the_table_and_the_json_list_every_process_alive_or_lost(store_url: str) -> None:
    now = time.time()
    alive = Registration(capacity=4, engine="tcp://engine-a:2376", id="a:11:aaaaaa", host="a")
    late = Registration(
        capacity=2, engine="unix:///var/run/docker.sock", id="b:22:bbbbbb", host="b"
    )
    asyncio.run(register(store_url, (alive, ("job1", "job2"), now), (late, (), now - 120)))

    table = workers_command(store_url)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "worker", "status", "engine", "capacity", "running", "started", "(UTC)", "heartbeat",
    ]  # fmt: skip
    assert len(rows) == 2
    by_id = {row.split()[0]: row.split() for row in rows}
    assert by_id["a:11:aaaaaa"][1:6] == ["alive", "tcp://engine-a:2376", "4", "2:", "job1,"]
    assert by_id["b:22:bbbbbb"][1:5] == ["lost", "unix:///var/run/docker.sock", "2", "0"]
    seconds, unit, ago = by_id["b:22:bbbbbb"][-3:]
    assert int(seconds) >= 120 and (unit, ago) == ("s", "ago")

    listed = {w["id"]: w for w in json.loads(workers_command(store_url, "--json").stdout)}
    assert listed["a:11:aaaaaa"]["running"] == ["job1", "job2"]
    assert (listed["a:11:aaaaaa"]["status"], listed["b:22:bbbbbb"]["status"]) == ("alive", "lost")
    assert listed["b:22:bbbbbb"]["heartbeat_age_seconds"] >= 120
