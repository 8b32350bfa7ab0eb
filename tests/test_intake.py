"""The intake's answers in process: what is queued, what is a duplicate or a replay, what is
refused, pinged, ignored or stale, through the real intake and store.

What only HTTP shows (headers, content type, size, paths, a store locked by another process)
is in `tests/test_webhook_intake.py`, against a running service.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.errors import RequestRejected
from app.store import JobState
from tests.corpus import comment_on, example, github_time, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fakes.sandbox import ScriptedRun
from tests.fixtures.inprocess import Engine, EngineFactory, finished, log_events

HELP = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/help")


async def test_a_signed_trigger_is_queued_with_its_job_id_then_acknowledged_on_github(
    engine: Engine,
) -> None:
    """The trigger label yields 202 with the job's id, and the job puts 👀 on the issue."""
    answer = await engine.deliver("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))

    assert answer.status == 202 and answer.body["status"] == "queued"
    [job_id] = answer.body["jobs"]
    job = await engine.store.get_job(job_id)
    assert job is not None and (job.kind, job.state, job.number) == ("fix", JobState.QUEUED, 1)
    engine.script(ScriptedRun(summary="Nothing to change."))
    finished(await engine.run_next(), JobState.SUCCEEDED)
    [reaction] = engine.github.state.reactions
    assert (reaction.subject, reaction.subject_id, reaction.content) == ("issue", 1, "eyes")


async def test_a_redelivery_is_a_duplicate_and_runs_nothing_even_after_a_restart(
    make_engine: EngineFactory,
) -> None:
    """The same X-GitHub-Delivery id is answered duplicate, before and after the service starts again."""
    engine = await make_engine()
    first = await engine.deliver("issue_comment", HELP, delivery_id="d-1")
    again = await engine.deliver("issue_comment", HELP, delivery_id="d-1")
    assert (first.body["status"], again.status, again.body) == (
        "queued",
        202,
        {"status": "duplicate"},
    )
    finished(await engine.run_next(), JobState.SUCCEEDED)

    engine = await make_engine(restarting=engine)
    after = await engine.deliver("issue_comment", HELP, delivery_id="d-1")

    assert (after.status, after.body) == (202, {"status": "duplicate"})
    assert await engine.run_all() == []
    assert len(await engine.store.list_jobs()) == 1
    assert len(engine.github.state.comments) == 1


async def test_a_signed_body_replayed_under_a_new_delivery_id_queues_nothing(
    make_engine: EngineFactory,
) -> None:
    """The same signed trigger posted again with a fresh X-GitHub-Delivery is answered duplicate,
    before and after a restart, and only the first made a job."""
    engine = await make_engine()
    body = json.dumps(labeled_issue(REPOSITORY, INSTALLATION_ID, 5)).encode()
    assert (await engine.deliver("issues", body)).body["status"] == "queued"
    assert (await engine.deliver("issues", body)).body == {"status": "duplicate"}

    engine = await make_engine(restarting=engine)
    again = await engine.deliver("issues", body)

    assert (again.status, again.body) == (202, {"status": "duplicate"})
    assert len(await engine.store.list_jobs()) == 1


@pytest.mark.parametrize(
    ("secret", "headers"),
    [("not-the-secret", {}), ("irrelevant", {"X-Hub-Signature-256": "sha256=nothex"})],
    ids=["other-secret", "malformed"],
)
async def test_a_wrong_or_malformed_signature_is_refused_with_401_and_records_nothing(
    engine: Engine, secret: str, headers: dict[str, str]
) -> None:
    """A signature made with another secret, or no signature at all, is refused before the body is read as JSON."""
    payload = labeled_issue(REPOSITORY, INSTALLATION_ID, 1)
    with pytest.raises(RequestRejected) as refused:
        await engine.deliver("issues", payload, secret=secret, headers=headers, delivery_id="d-1")

    assert (refused.value.status, refused.value.code) == (401, "invalid_signature")
    assert not await engine.store.has_delivery("d-1")
    assert await engine.store.list_jobs() == []


async def test_a_ping_is_answered_pong(engine: Engine) -> None:
    """GitHub's ping on App creation gets 200 pong and records nothing."""
    answer = await engine.deliver("ping", example("ping"), delivery_id="ping-1")

    assert (answer.status, answer.body) == (200, {"status": "pong"})
    assert not await engine.store.has_delivery("ping-1")


async def test_events_nothing_wants_are_acknowledged_as_ignored(engine: Engine) -> None:
    """A star, or an issue labeled with another label, gets 202 ignored and creates no job."""
    other_label = labeled_issue(REPOSITORY, INSTALLATION_ID, 1, label="bug")
    for event, payload in (("star", example("star")), ("issues", other_label)):
        answer = await engine.deliver(event, payload)
        assert (answer.status, answer.body) == (202, {"status": "ignored"})
    assert await engine.store.list_jobs() == []


async def test_a_trigger_older_than_githubs_redelivery_window_is_ignored_as_stale(
    engine: Engine, logged: list[dict[str, Any]]
) -> None:
    """A label or comment from 4 days ago gets 202 stale, a log line saying why and no job; one
    from within the 3-day window is queued."""
    now = datetime.now(UTC)
    old_label = labeled_issue(REPOSITORY, INSTALLATION_ID, 1)
    old_label["issue"]["updated_at"] = github_time(now - timedelta(days=4))
    old_comment = comment_on(REPOSITORY, INSTALLATION_ID, 2, "/fix")
    old_comment["comment"]["created_at"] = github_time(now - timedelta(days=4))
    recent = labeled_issue(REPOSITORY, INSTALLATION_ID, 3)
    recent["issue"]["updated_at"] = github_time(now - timedelta(days=2, hours=23))

    for event, payload in (("issues", old_label), ("issue_comment", old_comment)):
        answer = await engine.deliver(event, payload)
        assert (answer.status, answer.body) == (202, {"status": "stale"})
    assert (await engine.deliver("issues", recent)).body["status"] == "queued"

    assert len(await engine.store.list_jobs()) == 1
    stale = log_events(logged, "webhook.stale")
    assert len(stale) == 2 and "redelivery window" in stale[0]["reason"]
    assert stale[0]["trigger_age_hours"] == 96.0


async def test_help_is_answered_in_the_thread(engine: Engine) -> None:
    """`/help` on an issue gets one comment listing the commands, written by the App."""
    finished(await engine.run_delivery("issue_comment", HELP), JobState.SUCCEEDED)

    [comment] = engine.github.state.comments.values()
    assert "/review" in comment.body and "`fixwright` label" in comment.body
    assert comment.user == engine.github.state.bot_login
