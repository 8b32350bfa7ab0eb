"""Stopping work: uninstalling the App or removing repositories cancels jobs; `/cancel` stops a running one.

In process, on the scripted sandbox; that cancelling a run removes its container is shown on the
real engine by `tests/test_sandbox_limits.py`.
"""

from __future__ import annotations

import asyncio

from app.store import JobState
from tests.corpus import aimed_at, comment_on, example, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fixtures.inprocess import Engine, EngineFactory, ended, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import label_delivery


def lifecycle(event: str, action: str, **extra: object) -> dict:
    payload = aimed_at(
        example(event, action), repository=REPOSITORY, installation_id=INSTALLATION_ID
    )
    payload.update(extra)
    return payload


async def job_rows(engine: Engine) -> list[tuple[str, str, str]]:
    """(kind, state, summary) of every job."""
    return [(job.kind, job.state.value, job.summary) for job in await engine.store.list_jobs()]


async def test_uninstalling_the_app_cancels_its_queued_jobs(engine: Engine) -> None:
    """installation.deleted: the queued fix job is cancelled with the reason, in the same delivery."""
    await engine.deliver("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    answer = await engine.deliver("installation", lifecycle("installation", "deleted"))

    assert (answer.status, answer.body) == (202, {"status": "recorded"})
    assert await job_rows(engine) == [("fix", "cancelled", "cancelled: the App was uninstalled")]
    assert await engine.run_all() == []


async def test_removing_a_repository_cancels_only_its_jobs(engine: Engine) -> None:
    """installation_repositories.removed cancels jobs of the removed repository and no other."""
    await engine.deliver("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    await engine.deliver("issues", labeled_issue("octo-org/other", INSTALLATION_ID, 2))
    removed = lifecycle(
        "installation_repositories",
        "removed",
        repositories_removed=[{"id": 1, "name": "hello", "full_name": REPOSITORY}],
    )
    answer = await engine.deliver("installation_repositories", removed)

    assert answer.body == {"status": "recorded"}
    jobs = await engine.store.list_jobs()
    assert {(job.repository, job.state) for job in jobs} == {
        (REPOSITORY, JobState.CANCELLED),
        ("octo-org/other", JobState.QUEUED),
    }


async def test_cancel_stops_a_running_fix_and_says_who(make_engine: EngineFactory) -> None:
    """`/cancel` by a maintainer while the run goes on: the fix ends cancelled naming who, once, and nothing is pushed."""
    engine = await make_engine(job_lease_seconds=3)
    never = asyncio.Event()
    engine.script(the_fix(engine, hold=never))
    [fix_id] = (await engine.deliver("issues", label_delivery(engine.github))).body["jobs"]
    fix = await engine.start_next()

    cancel = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/cancel")
    finished(await engine.run_delivery("issue_comment", cancel), JobState.SUCCEEDED)
    job = finished(await ended(fix), JobState.CANCELLED)

    assert (job.id, job.summary) == (fix_id, "cancelled by @octocat")
    assert not never.is_set()  # nothing but the cancel ended the run
    state = engine.github.state
    notices = [c for c in state.issue_comments(REPOSITORY, 1) if "Cancelled by @octocat" in c.body]
    assert len(notices) == 1
    assert state.pulls == {} and state.branches(REPOSITORY) == ["main"]
