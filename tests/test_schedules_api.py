"""Schedules in process: `/v1/schedules` (created, refused with every bad field named, listed,
paused, resumed, deleted, behind its scopes), a scheduled task run end to end by the real worker
against the fake GitHub (its pull request names the schedule, a second run refreshes it while it
is open, a new branch after it closed; a comment on an issue), and `fixwright schedules`."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import timedelta
from typing import Any

import pytest

from app.cli import main
from app.scheduler import Scheduler
from app.store import AuditQuery, JobState
from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.github.pull_events import close_pull_request
from tests.fakes.sandbox import ScriptedRun, tool
from tests.fixtures.inprocess import finished
from tests.test_task_api import GREET, NEW_GREET, TaskApi
from tests.test_task_api import api as api  # a fixture

MINUTE = 60.0


def body(**fields: Any) -> dict[str, Any]:
    return {
        "repository": REPOSITORY,
        "name": "lockfile",
        "cron": "* * * * *",
        "prompt": "Update the lock file and fix what breaks.",
        **fields,
    }


def run_writing(text: str, summary: str = "Updated the lock file.") -> ScriptedRun:
    return ScriptedRun(
        summary=summary,
        files={GREET: text},
        tools=(tool("Edit", file_path=f"/workspace/{GREET}"),),
    )


class Ahead:
    """The scheduler's clock, moved on by the test: from a second past the next whole minute
    (made before the schedule, so that minute is the schedule's first slot)."""

    def __init__(self) -> None:
        start = time.time()
        boundary = (math.floor(start / 60) + 1) * 60
        if boundary - start < 5:  # the schedule is made before that minute, whatever it takes
            boundary += 60
        self.base = boundary + 1
        self.offset = 0.0

    def __call__(self) -> float:
        return self.base + self.offset


def scheduler_of(api: TaskApi, clock: Ahead) -> Scheduler:
    engine = api.engine
    return Scheduler(engine.settings, engine.store, engine.registry, clock=clock, node="node-1")


async def test_a_schedule_is_created_listed_paused_resumed_and_deleted(api: TaskApi) -> None:
    created = await api.client.post("/v1/schedules", json=body(), headers=api.headers())
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["repository"] == REPOSITORY and schedule["timezone"] == "UTC"
    assert schedule["output"] == "pull_request" and schedule["source"] == "api"
    assert schedule["next_run"] is not None and schedule["last_run"] is None
    again = await api.client.post("/v1/schedules", json=body(), headers=api.headers())
    assert again.status_code == 409  # one name per repository

    listed = (await api.get("/v1/schedules")).json()["schedules"]
    assert [item["id"] for item in listed] == [schedule["id"]]
    paused = await api.post(f"/v1/schedules/{schedule['id']}/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert paused.json()["next_run"] is None
    resumed = await api.post(f"/v1/schedules/{schedule['id']}/resume")
    assert resumed.json()["paused"] is False
    deleted = await api.client.delete(f"/v1/schedules/{schedule['id']}", headers=api.headers())
    assert deleted.status_code == 204
    assert (await api.get("/v1/schedules")).json()["schedules"] == []
    assert (await api.get(f"/v1/schedules/{schedule['id']}")).status_code == 404

    actions = [entry.action for entry in await api.engine.store.audit_entries(AuditQuery())]
    for action in ("created", "paused", "resumed", "deleted"):
        assert f"schedule.{action}" in actions


async def test_an_invalid_schedule_is_refused_naming_each_field_and_never_fires(
    api: TaskApi,
) -> None:
    bad = body(
        name="-no",
        cron="61 * * * *",
        timezone="Mars/Olympus",
        output="email",
        repository="not a repository",
    )
    answer = await api.client.post("/v1/schedules", json=bad, headers=api.headers())
    assert answer.status_code == 400
    problems = {item["field"]: item["problem"] for item in answer.json()["error"]["details"]}
    assert set(problems) == {"name", "cron", "timezone", "output", "repository"}
    assert "cron expression" in problems["cron"] and "timezone" in problems["timezone"]
    fields = await api.client.post(
        "/v1/schedules", json=body(cron="* * *", output="issue_comment"), headers=api.headers()
    )
    assert fields.status_code == 400
    assert {item["field"] for item in fields.json()["error"]["details"]} == {"cron"}
    nul = await api.client.post("/v1/schedules", json=body(prompt="a\x00b"), headers=api.headers())
    assert nul.status_code == 400
    assert nul.json()["error"]["details"][0]["field"] == "prompt"
    missing_issue = await api.client.post(
        "/v1/schedules", json=body(output="issue_comment"), headers=api.headers()
    )
    assert missing_issue.status_code == 400
    assert "issue" in missing_issue.json()["error"]["details"][0]["problem"]
    elsewhere = await api.client.post(
        "/v1/schedules", json=body(repository="octo/not-installed"), headers=api.headers()
    )
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"]["details"][0]["field"] == "repository"

    assert await api.engine.store.schedules() == []
    clock = Ahead()
    clock.offset = 5 * MINUTE
    assert await scheduler_of(api, clock).tick() == []
    assert await api.engine.store.lease("worker-1", 60) is None


async def test_the_schedules_scopes(api: TaskApi) -> None:
    tasks_only = await api.make_key(("tasks:write", "tasks:read"))
    refused = await api.client.post("/v1/schedules", json=body(), headers=api.headers(tasks_only))
    assert refused.status_code == 403
    reader = await api.make_key(("schedules:read",))
    assert (await api.get("/v1/schedules", reader)).status_code == 200
    cannot_write = await api.client.post("/v1/schedules", json=body(), headers=api.headers(reader))
    assert cannot_write.status_code == 403


async def test_a_scheduled_task_opens_a_pull_request_naming_the_schedule_and_reuses_it(
    api: TaskApi,
) -> None:
    clock = Ahead()
    engine = api.engine
    engine.github.state.user(engine.github.state.bot_login)  # the App's bot account exists
    created = await api.client.post("/v1/schedules", json=body(), headers=api.headers())
    schedule_id = created.json()["id"]
    scheduler = scheduler_of(api, clock)

    clock.offset = 0
    [first] = await scheduler.tick()
    assert first.job_id is not None
    engine.script(run_writing(NEW_GREET))
    job = finished(await engine.run_next(), JobState.SUCCEEDED)
    assert job.id == first.job_id and job.requested_by == "schedule:lockfile"
    [pull] = engine.github.state.pulls.values()
    assert pull.head.startswith(f"{engine.settings.branch_prefix}schedule-{schedule_id[:12]}-")
    text = engine.github.state.issues[(REPOSITORY, pull.number)].body or ""
    assert "run by the schedule `lockfile`" in text
    entries = [
        e for e in await engine.store.audit_entries(AuditQuery()) if e.action == "task.created"
    ]
    assert [entry.actor for entry in entries] == ["schedule:lockfile"]

    # The next slot, the pull request still open: the same branch, the same pull request.
    clock.offset = MINUTE
    [second] = await scheduler.tick()
    engine.script(run_writing(NEW_GREET + "\n# again\n", "Updated it again."))
    finished(await engine.run_next(), JobState.SUCCEEDED)
    assert list(engine.github.state.pulls) == [(REPOSITORY, pull.number)]
    second_task = await engine.store.task(second.job_id or "")
    assert second_task is not None and second_task.result is not None
    assert second_task.result["pull_request"]["number"] == pull.number

    # Closed unmerged: the next run starts a new branch and a new pull request.
    payload = close_pull_request(
        engine.github.state, REPOSITORY, pull.number, merged=False, after=timedelta(minutes=1)
    )
    answer = await engine.deliver("pull_request", payload)
    assert answer.body.get("status") == "queued", answer.body
    await engine.run_all()
    clock.offset = 2 * MINUTE
    [_third] = await scheduler.tick()
    engine.script(run_writing(NEW_GREET + "\n# third\n", "Third time."))
    finished(await engine.run_next(), JobState.SUCCEEDED)
    heads = sorted(p.head for p in engine.github.state.pulls.values())
    assert len(heads) == 2 and heads[0] != heads[1]


async def test_a_schedule_can_answer_on_an_issue(api: TaskApi) -> None:
    clock = Ahead()
    engine = api.engine
    issue = engine.github.state.add_issue(REPOSITORY, "Weekly triage")
    created = await api.client.post(
        "/v1/schedules",
        json=body(name="triage", output="issue_comment", issue=issue.number),
        headers=api.headers(),
    )
    assert created.status_code == 201, created.text
    [_claim] = await scheduler_of(api, clock).tick()
    engine.script(run_writing(NEW_GREET, "Triaged 3 issues."))
    finished(await engine.run_next(), JobState.SUCCEEDED)
    [comment] = engine.github.state.issue_comments(REPOSITORY, issue.number)
    assert "schedule `triage`" in comment.body and "Triaged 3 issues." in comment.body
    assert engine.github.state.pulls == {}


async def test_the_schedules_command(
    api: TaskApi, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    clock = Ahead()
    created = await api.client.post("/v1/schedules", json=body(), headers=api.headers())
    await api.client.post(
        "/v1/schedules", json=body(name="weekly", cron="0 9 * * 1"), headers=api.headers()
    )
    [claim] = await scheduler_of(api, clock).tick()
    monkeypatch.setenv(
        "FIXWRIGHT_STORE_URL", f"sqlite:///{api.engine.home / 'store' / 'fixwright.db'}"
    )
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["schedules", "--json"]) == 0
    document = json.loads(capsys.readouterr().out.splitlines()[-1])
    by_name = {item["name"]: item for item in document["schedules"]}
    assert by_name["lockfile"]["id"] == created.json()["id"]
    assert by_name["lockfile"]["last_run"]["job_id"] == claim.job_id
    assert by_name["lockfile"]["last_run"]["job_state"] == "queued"
    assert by_name["weekly"]["last_run"] is None and by_name["weekly"]["next_run"]
    assert await asyncio.to_thread(main, ["schedules"]) == 0
    table = capsys.readouterr().out
    assert "lockfile" in table and f"job {claim.job_id} queued" in table
    assert "weekly" in table and "never run" in table


async def test_a_schedule_can_open_an_issue(api: TaskApi) -> None:
    clock = Ahead()
    engine = api.engine
    created = await api.client.post(
        "/v1/schedules", json=body(name="report", output="issue"), headers=api.headers()
    )
    assert created.status_code == 201, created.text
    before = set(engine.github.state.issues)
    [_claim] = await scheduler_of(api, clock).tick()
    engine.script(run_writing(NEW_GREET, "Found 2 stale branches."))
    finished(await engine.run_next(), JobState.SUCCEEDED)
    [key] = set(engine.github.state.issues) - before
    opened = engine.github.state.issues[key]
    assert opened.title == "fixwright schedule report"
    assert "Found 2 stale branches." in (opened.body or "")
    assert engine.github.state.pulls == {}
