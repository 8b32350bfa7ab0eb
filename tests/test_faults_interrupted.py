"""A job interrupted more often than it may be retried fails, and its thread is told so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store import Delivery, JobState, NewJob
from app.store.sqlite import SQLiteStore
from handlers import interrupted
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

HELP = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help")


class Clock:
    """A clock the test moves forward, so a lease expires without sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def fix_job(number: int | None = 1) -> NewJob:
    return NewJob(
        kind="fix",
        repository="octo/hello",
        target=f"octo/hello#{number}",
        number=number,
        installation_id=7,
        requested_by="octocat",
        payload={"event": "issues", "payload": {"action": "labeled"}},
    )


async def expire_running_job(store: SQLiteStore, clock: Clock) -> str:
    """Lease the queued job, let its lease lapse and reap it; the reaped job's id."""
    leased = await store.lease("worker-that-dies", lease_seconds=5)
    assert leased is not None
    clock.now += 10
    assert await store.reclaim_expired(interrupted.KIND.name) == [leased.id]
    return leased.id


async def test_the_reaper_queues_one_notice_for_a_job_out_of_attempts(tmp_path: Path) -> None:
    """Out of attempts: the job fails and a notice job for its thread is queued with its id and kind."""
    clock = Clock()
    store = SQLiteStore(tmp_path / "jobs.db", max_attempts=1, clock=clock)
    await store.record_delivery(Delivery("d-1", "issues"), [fix_job()])
    failed_id = await expire_running_job(store, clock)

    failed = await store.get_job(failed_id)
    assert failed is not None and failed.state is JobState.FAILED
    assert "stopped 1 times" in failed.summary
    [notice] = await store.list_jobs(JobState.QUEUED)
    assert notice.kind == interrupted.KIND.name
    assert (notice.target, notice.number, notice.delivery_id) == ("octo/hello#1", 1, "d-1")
    assert notice.payload["interruption"] == {"job_id": failed_id, "kind": "fix", "attempts": 1}
    assert notice.payload["event"] == "issues"  # the original delivery stays readable
    await store.close()


async def test_a_job_with_attempts_left_is_requeued_without_a_notice(tmp_path: Path) -> None:
    """A first interruption with a retry left queues the job again, and nothing is said yet."""
    clock = Clock()
    store = SQLiteStore(tmp_path / "jobs.db", max_attempts=2, clock=clock)
    await store.record_delivery(Delivery("d-1", "issues"), [fix_job()])
    job_id = await expire_running_job(store, clock)

    [queued] = await store.list_jobs(JobState.QUEUED)
    assert (queued.id, queued.kind) == (job_id, "fix")
    await store.close()


async def test_a_notice_that_is_itself_interrupted_queues_no_further_notice(
    tmp_path: Path,
) -> None:
    """Notices never beget notices, so a dead worker cannot make the queue grow without end."""
    clock = Clock()
    store = SQLiteStore(tmp_path / "jobs.db", max_attempts=1, clock=clock)
    await store.record_delivery(Delivery("d-1", "issues"), [fix_job()])
    await expire_running_job(store, clock)
    notice_id = await expire_running_job(store, clock)

    notice = await store.get_job(notice_id)
    assert notice is not None and notice.kind == interrupted.KIND.name
    assert notice.state is JobState.FAILED
    assert await store.list_jobs(JobState.QUEUED) == []
    await store.close()


def jobs_on_disk(service: ServiceProcess) -> list[tuple[str, str, str]]:
    with sqlite3.connect(service.store_path) as db:
        return db.execute("SELECT kind, state, summary FROM jobs ORDER BY created_at").fetchall()


def test_a_job_killed_with_no_retry_left_is_reported_in_its_thread(
    service_process: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """SIGKILL mid-job with one attempt allowed: after restart the thread says it was interrupted and how to retry."""
    comments_path = f"/repos/{REPOSITORY}/issues/1/comments"
    fake_github.state.delay("POST", comments_path, 30.0)
    service_process.start(FIXWRIGHT_JOB_MAX_ATTEMPTS="1")
    [job_id] = service_process.post("issue_comment", HELP).json()["jobs"]
    wait_for(lambda: any(path == comments_path for _, path, _ in fake_github.state.arrivals))
    service_process.kill()

    fake_github.state.delays.clear()
    service_process.start(FIXWRIGHT_JOB_MAX_ATTEMPTS="1")
    wait_for(lambda: fake_github.state.issue_comments(REPOSITORY, 1), timeout=30)

    [comment] = fake_github.state.issue_comments(REPOSITORY, 1)
    assert comment.user == fake_github.state.bot_login
    assert "could not finish this help job" in comment.body
    assert "interrupted" in comment.body and "Comment `/help` to try again." in comment.body
    assert job_id in comment.body
    wait_for(lambda: jobs_on_disk(service_process)[-1][1] == "succeeded")
    [(kind, state, summary), notice] = jobs_on_disk(service_process)
    assert (kind, state) == ("help", "failed") and "stopped 1 times" in summary
    assert notice[:2] == (interrupted.KIND.name, "succeeded")
