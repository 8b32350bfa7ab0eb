"""Retention: records and leftover workspaces older than FIXWRIGHT_RETENTION_DAYS go, the rest stays."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.config import ConfigError, load_settings
from app.retention import DAY_SECONDS, sweep
from app.store import ApprovalToken, Delivery, JobState
from app.store.sqlite import SQLiteStore
from tests import test_store
from tests.fixtures.service import ServiceProcess
from tests.test_store import Clock, finished_job, new_job
from tests.waiting import wait_for

MONTH = 30 * DAY_SECONDS
# The store's own fixtures: a store on a fresh file, and the clock the test moves.
clock, store = test_store.clock, test_store.store


def workspace(parent: Path, name: str, changed_at: float) -> Path:
    """A job's directory as sandbox/git_workspace.py makes it, last changed at `changed_at`."""
    root = parent / name
    (root / "workspace").mkdir(parents=True)
    (root / "git").mkdir()
    (root / "workspace" / "README.md").write_text("# hello\n")
    os.utime(root, (changed_at, changed_at))
    return root


async def test_a_sweep_removes_what_is_older_than_the_age_and_keeps_the_rest(
    store: SQLiteStore, clock: Clock, tmp_path: Path
) -> None:
    """An old delivery, an old job's payload and log, and an old workspace go; younger ones and
    the job rows stay."""
    workspaces = tmp_path / "state" / "workspaces"
    started = clock.now
    old_job = await finished_job(store, "d-old", "octo/hello#1")
    old_dir = workspace(workspaces, "fixwright-job-old", started)
    old_review = workspace(workspaces, "fixwright-review-old", started)
    clock.now += 40 * DAY_SECONDS
    young_job = await finished_job(store, "d-young", "octo/hello#2")
    young_dir = workspace(workspaces, "fixwright-job-young", clock.now)
    # Not fixwright's: whatever else an operator keeps there is not touched.
    other = workspace(workspaces, "notes", started)

    report = await sweep(store, workspaces, MONTH, clock.now)

    assert report.counts() == {
        "deliveries": 1,
        "job_payloads": 1,
        "job_events": 2,
        "notices": 0,
        "audit": 0,
        "conversations": 0,
        "approvals": 0,
        "webhook_deliveries": 0,
        "workspaces": 2,
        "mirrors": 0,
    }
    assert not old_dir.exists() and not old_review.exists()
    assert young_dir.exists() and other.exists()
    assert not await store.has_delivery("d-old") and await store.has_delivery("d-young")
    kept = await store.get_job(old_job)
    assert kept is not None and kept.summary == "opened a pull request" and kept.payload == {}
    young = await store.get_job(young_job)
    assert young is not None and young.payload


async def test_a_running_jobs_workspace_is_kept_however_old(
    store: SQLiteStore, clock: Clock, tmp_path: Path
) -> None:
    """A job that started 40 days ago and still runs keeps its directory (made after it started);
    a leftover from before it started goes."""
    workspaces = tmp_path / "workspaces"
    await store.record_delivery(Delivery("d-1", "issues"), [new_job()])
    running = await store.lease("w", 100 * DAY_SECONDS)
    assert running is not None and running.started_at is not None
    its_dir = workspace(workspaces, "fixwright-job-running", running.started_at + 5)
    leftover = workspace(workspaces, "fixwright-job-leftover", running.started_at - 3600)
    clock.now += 40 * DAY_SECONDS

    report = await sweep(store, workspaces, MONTH, clock.now)

    assert its_dir.exists() and not leftover.exists() and report.workspaces == 1
    job = await store.get_job(running.id)
    assert job is not None and job.state is JobState.RUNNING and job.payload


async def test_symlinks_planted_in_a_workspace_lead_the_sweep_nowhere(
    store: SQLiteStore, clock: Clock, tmp_path: Path
) -> None:
    """Links the agent left inside an old workspace, and a link posing as a workspace, are
    removed or skipped as links: what they point at is untouched."""
    workspaces = tmp_path / "workspaces"
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("the host's own file\n")
    old = clock.now - 40 * DAY_SECONDS
    planted = workspace(workspaces, "fixwright-job-planted", old)
    (planted / "workspace" / "escape").symlink_to(precious)
    (planted / "workspace" / "file-escape").symlink_to(precious / "keep.txt")
    os.utime(planted, (old, old))
    (workspaces / "fixwright-job-link").symlink_to(precious)
    os.utime(workspaces / "fixwright-job-link", (old, old), follow_symlinks=False)

    report = await sweep(store, workspaces, MONTH, clock.now)

    assert report.workspaces == 1 and not planted.exists()
    assert (precious / "keep.txt").read_text() == "the host's own file\n"
    assert (workspaces / "fixwright-job-link").is_symlink()


async def test_a_sweep_with_no_workspaces_directory_prunes_the_store(
    store: SQLiteStore, clock: Clock, tmp_path: Path
) -> None:
    """An intake-only node has no workspaces: its store is still kept small."""
    await store.record_delivery(Delivery("d-1", "star"), [])
    clock.now += 40 * DAY_SECONDS
    report = await sweep(store, tmp_path / "none", MONTH, clock.now)
    assert report.counts()["deliveries"] == 1 and report.workspaces == 0


def test_the_retention_age_must_outlast_githubs_redelivery_window() -> None:
    """30 days by default, 0 keeps everything, and 1 to 3 days are refused with the reason."""
    assert load_settings({}, None, for_github=False).retention_days == 30
    assert (
        load_settings({"FIXWRIGHT_RETENTION_DAYS": "0"}, None, for_github=False).retention_days == 0
    )
    for value in ("2", "-1", "soon"):
        with pytest.raises(ConfigError) as refused:
            load_settings({"FIXWRIGHT_RETENTION_DAYS": value}, None, for_github=False)
        [problem] = refused.value.problems
        assert problem.startswith("FIXWRIGHT_RETENTION_DAYS must be")


def old_records(store_path: Path) -> None:
    """A delivery and a finished job from two months ago, written as the service would have."""

    async def write() -> None:
        then = [1_000_000.0]

        def tick() -> float:
            then[0] += 0.001
            return then[0]

        opened = SQLiteStore(store_path, clock=tick)
        await finished_job(opened, "d-old", "octo/hello#1")
        await opened.close()

    asyncio.run(write())


def test_the_service_sweeps_at_start_up_and_counts_it(service_process: ServiceProcess) -> None:
    """`fixwright serve` removes old records on starting, logs it and counts it in its metrics."""
    old_records(service_process.store_path)
    service = service_process.start(FIXWRIGHT_WORKERS="0")
    [line] = wait_for(
        lambda: [line for line in service.log_lines() if line["event"] == "retention.swept"]
    )
    assert (line["deliveries"], line["job_payloads"], line["job_events"]) == (1, 1, 2)
    text = httpx.get(service.url + "/metrics/prometheus").text
    assert 'fixwright_retention_runs_total{outcome="ok"} 1.0' in text
    assert 'fixwright_retention_removed_total{record="deliveries"} 1.0' in text


def test_fixwright_prune_removes_old_records_from_the_command_line(
    service_process: ServiceProcess,
) -> None:
    """`fixwright prune` does one sweep against the configured store and says what it removed."""
    old_records(service_process.store_path)
    env = {**service_process.env, "FIXWRIGHT_STATE_DIR": str(service_process.log_path.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "prune"],
        env=env,
        cwd=service_process.log_path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "  deliveries: 1\n" in result.stdout
    assert "  finished jobs' payloads and logs: 1 (2 log entries)\n" in result.stdout
    with sqlite3.connect(service_process.store_path) as db:
        assert db.execute("SELECT COUNT(*) FROM deliveries").fetchone() == (0,)
        assert db.execute("SELECT payload, summary FROM jobs").fetchall() == [
            ("{}", "opened a pull request")
        ]


async def test_decided_approvals_and_spent_tokens_go_and_a_waiting_request_stays(
    store: SQLiteStore, clock: Clock, tmp_path: Path
) -> None:
    async def waiting(delivery_id: str, target: str) -> str:
        await store.record_delivery(Delivery(delivery_id, "issues"), [new_job(target)])
        job = await store.lease("w", 60)
        assert job is not None
        assert await store.await_approval(job.id, "w", "waits", expires_at=clock.now + MONTH * 2)
        return job.id

    decided = await waiting("d-1", "octo/hello#1")
    token = ApprovalToken("a" * 16, decided, b"x" * 32, clock.now, clock.now + 60)
    assert await store.add_approval_token(token)
    await store.decide_approval(decided, "denied", "octocat", "no")
    still_waiting = await waiting("d-2", "octo/hello#2")
    clock.now += MONTH + DAY_SECONDS

    report = await sweep(store, tmp_path, MONTH, clock.now)

    assert report.counts()["approvals"] == 1
    assert await store.approval(decided) is None and await store.approval_token("a" * 16) is None
    assert await store.approval(still_waiting) is not None
