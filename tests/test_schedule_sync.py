"""Repository schedules, in process: a push to the default branch that changes
`.github/fixwright.yml` keeps its `schedules:` in the store (the real one), read through the fake
GitHub at the pushed commit; the scheduler fires them on a test clock. A file that is not valid
changes nothing and is reported once, as a failed check run on the commit."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.api.schedules import ScheduleBody
from app.repo_config import PATH, RepoConfigError, parse_repo_config
from app.scheduler import Scheduler
from app.store import JobState
from app.store.schedules import Schedule
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fakes.github.push_events import push
from tests.fakes.sandbox import ScriptedRun
from tests.fixtures.inprocess import Engine, finished
from tests.pg import fresh_database, open_test_store

MINUTE = 60.0
CHECK_NAME = "fixwright configuration"


class Ahead:
    """The scheduler's clock: a second past a whole minute still to come, moved on by the test."""

    def __init__(self) -> None:
        start = time.time()
        boundary = (math.floor(start / 60) + 1) * 60
        if boundary - start < 5:
            boundary += 60
        self.base = boundary + 1
        self.offset = 0.0

    def __call__(self) -> float:
        return self.base + self.offset


def config(cron: str = "* * * * *", **extra: str) -> str:
    fields = "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return (
        "max_turns: 5\n"
        "schedules:\n"
        "  - name: lockfile\n"
        f'    cron: "{cron}"\n'
        "    prompt: Update the lock file.\n"
        f"{fields}"
    )


async def pushed(engine: Engine, files: dict[str, str | None], **options: Any) -> list[Any]:
    """Deliver the push; the jobs it queued, run."""
    answer = await engine.deliver("push", push(engine.github.state, REPOSITORY, files, **options))
    if answer.body.get("status") != "queued":
        return []
    return await engine.run_all()


async def declared(engine: Engine) -> list[Schedule]:
    return [
        view.schedule
        for view in await engine.store.schedules(REPOSITORY)
        if view.schedule.source == "repository"
    ]


def config_checks(engine: Engine) -> list[Any]:
    return [run for run in engine.github.state.check_runs.values() if run.name == CHECK_NAME]


def scheduler_of(engine: Engine, clock: Ahead) -> Scheduler:
    return Scheduler(engine.settings, engine.store, engine.registry, clock=clock, node="node-1")


async def test_a_pushed_file_keeps_its_schedules_and_they_fire(engine: Engine) -> None:
    [job] = await pushed(engine, {PATH: config(timezone="Europe/Paris")})
    assert job.kind == "schedule_sync" and job.usage == {}  # no model, no sandbox
    assert finished(job, JobState.SUCCEEDED).summary == "schedules created lockfile"
    [schedule] = await declared(engine)
    assert (schedule.name, schedule.cron, schedule.timezone) == (
        "lockfile",
        "* * * * *",
        "Europe/Paris",
    )
    assert schedule.installation_id == INSTALLATION_ID and schedule.output == "pull_request"
    assert config_checks(engine) == []

    [claim] = await scheduler_of(engine, Ahead()).tick()
    assert claim.job_id is not None
    fired = await engine.store.get_job(claim.job_id)
    assert fired is not None and fired.kind == "scheduled_task"
    assert fired.requested_by == "schedule:lockfile"


async def test_a_changed_cron_keeps_the_schedule_and_does_not_refire_its_slot(
    engine: Engine,
) -> None:
    clock = Ahead()
    scheduler = scheduler_of(engine, clock)
    await pushed(engine, {PATH: config()})
    [before] = await declared(engine)
    [claim] = await scheduler.tick()
    assert claim.job_id is not None
    engine.script(ScriptedRun(summary="Nothing needed updating."))  # the slot's task runs

    # Hourly at the minute that just fired: that slot is the new cron's too.
    minute = time.gmtime(clock() - 1).tm_min
    jobs = await pushed(engine, {PATH: config(f"{minute} * * * *")})
    [job] = [job for job in jobs if job.kind == "schedule_sync"]
    assert finished(job, JobState.SUCCEEDED).summary == "schedules updated lockfile"
    [after] = await declared(engine)
    assert after.id == before.id and after.cron == f"{minute} * * * *"
    assert await scheduler.tick() == []  # the slot that fired does not fire again
    clock.offset = MINUTE
    assert await scheduler.tick() == []  # and the old every-minute cron is gone
    assert len(await engine.store.schedule_slots(after.id)) == 1


async def test_removing_the_file_removes_the_repository_schedules_only(engine: Engine) -> None:
    await pushed(engine, {PATH: config()})
    operators = Schedule(
        id="operator-1",
        repository=REPOSITORY,
        installation_id=INSTALLATION_ID,
        name="weekly",
        cron="0 9 * * 1",
        timezone="UTC",
        prompt="Triage.",
        output="pull_request",
        issue_number=None,
        source="api",
    )
    assert await engine.store.create_schedule(operators)

    [job] = await pushed(engine, {PATH: None})
    assert finished(job, JobState.SUCCEEDED).summary == "schedules removed lockfile"
    assert await declared(engine) == []
    assert [v.schedule.id for v in await engine.store.schedules(REPOSITORY)] == ["operator-1"]
    assert await scheduler_of(engine, Ahead()).tick() == []


async def test_an_invalid_file_changes_nothing_and_fails_one_check_run(engine: Engine) -> None:
    await pushed(engine, {PATH: config()})
    [kept] = await declared(engine)
    text = config("61 * * *") + "  - name: lockfile\n    cron: '* * * * *'\n    prompt: ''\n"
    payload = push(engine.github.state, REPOSITORY, {PATH: text})
    answer = await engine.deliver("push", payload)
    assert answer.body.get("status") == "queued", answer.body
    [job] = await engine.run_all()
    assert "is not valid: 3 problem(s); no schedule changed" in (
        finished(job, JobState.SUCCEEDED).summary or ""
    )
    assert await declared(engine) == [kept]

    [check] = config_checks(engine)
    assert check.head_sha == payload["after"] and check.conclusion == "failure"
    summary = str(check.output.get("summary"))
    assert "`schedules[0].cron`: must have five fields" in summary
    assert "`schedules[1].prompt`: must be the task's text" in summary
    assert "`schedules[1].name`: another schedule is named lockfile" in summary
    assert "push it: the schedules are read again" in summary  # the next step


async def test_an_invalid_first_file_never_fires(engine: Engine) -> None:
    await pushed(engine, {PATH: config(timezone="Mars/Olympus")})
    assert await declared(engine) == []
    [check] = config_checks(engine)
    assert "`schedules[0].timezone`: is not a timezone name" in str(check.output["summary"])
    clock = Ahead()
    scheduler = scheduler_of(engine, clock)
    for offset in (0.0, MINUTE, 2 * MINUTE):
        clock.offset = offset
        assert await scheduler.tick() == []


async def test_other_branches_and_other_files_queue_nothing(engine: Engine) -> None:
    state = engine.github.state
    for payload in (
        push(state, REPOSITORY, {PATH: config()}, branch="feature"),
        push(state, REPOSITORY, {"README.md": "# hello\n"}),
    ):
        answer = await engine.deliver("push", payload)
        assert answer.body.get("status") == "ignored", answer.body
    assert await engine.store.list_jobs() == []
    assert await declared(engine) == []


def declared_schedule(name: str, cron: str, source: str = "repository") -> Schedule:
    return Schedule(
        id=f"{source}-{name}-{cron}",
        repository=REPOSITORY,
        installation_id=INSTALLATION_ID,
        name=name,
        cron=cron,
        timezone="UTC",
        prompt="Do it.",
        output="pull_request",
        issue_number=None,
        source=source,
    )


async def test_the_replacement_on_postgresql_is_one_step_that_spares_the_operators() -> None:
    """The same store method on PostgreSQL: kept by name with its id, added, removed, and a
    declared name an operator's schedule holds refused, the operator's untouched."""
    with fresh_database() as url:
        store = open_test_store(url)
        try:
            assert await store.create_schedule(declared_schedule("weekly", "0 9 * * 1", "api"))
            first = [declared_schedule("a", "* * * * *"), declared_schedule("b", "0 * * * *")]
            sync = await store.replace_repository_schedules(REPOSITORY, first)
            assert (sync.created, sync.updated, sync.removed) == (("a", "b"), (), ())
            second = [
                declared_schedule("a", "*/5 * * * *"),
                declared_schedule("weekly", "0 1 * * *"),
            ]
            sync = await store.replace_repository_schedules(REPOSITORY, second)
            assert (sync.updated, sync.removed, sync.refused) == (("a",), ("b",), ("weekly",))
            views = {v.schedule.name: v.schedule for v in await store.schedules(REPOSITORY)}
            assert sorted(views) == ["a", "weekly"]
            assert views["a"].id == "repository-a-* * * * *" and views["a"].cron == "*/5 * * * *"
            assert views["weekly"].source == "api" and views["weekly"].cron == "0 9 * * 1"
        finally:
            await store.close()


def test_the_file_and_the_api_refuse_a_schedule_in_the_same_words() -> None:
    """One set of rules: each bad field of an entry is refused as the API refuses it."""
    entry = {"name": "-x", "cron": "61 * * * *", "timezone": "Mars/Olympus", "prompt": "Go."}
    with pytest.raises(ValidationError) as refused:
        ScheduleBody.model_validate({"repository": REPOSITORY, **entry})
    api = {".".join(map(str, p["loc"])): p["msg"] for p in refused.value.errors()}
    with pytest.raises(RepoConfigError) as raised:
        parse_repo_config(yaml.safe_dump({"schedules": [entry]}))
    said = "\n".join(raised.value.problems)
    assert "`schedules[0].name`" in said and "name" in api
    for field in ("cron", "timezone"):
        words = api[field].removeprefix("Value error, ")
        assert f"`schedules[0].{field}`: {words}" in said
