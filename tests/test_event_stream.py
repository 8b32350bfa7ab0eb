"""A job's events as Server-Sent Events: `GET /v1/tasks/{id}/events` in process.

The real API app, store and hub; the stream is read as a client reads it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from starlette.datastructures import State

from app.api.auth import new_key
from app.api.context import ApiState
from app.api.mount import create_api
from app.api.sse import HEARTBEAT, EventStreamResponse, job_events, resume_point
from app.event_hub import EventHub
from app.store import Delivery, JobState, NewJob
from app.store.sqlite import SQLiteStore
from tests.fixtures.inprocess import Engine
from tests.waiting import wait_until


@dataclass
class Api:
    client: httpx.AsyncClient
    store: SQLiteStore
    hub: EventHub
    key: str


@pytest.fixture
async def api(engine: Engine) -> AsyncIterator[Api]:
    hub = EventHub()
    engine.store.watch_events(hub.notify)
    state = State()
    settings = replace(engine.settings, sse_heartbeat_seconds=0.05)
    state.api = ApiState(settings, engine.store, engine.metrics, engine.registry, engine.pool, hub)
    made = new_key("reader", ("tasks:read",), time.time())
    await engine.store.add_api_key(made.record)
    transport = httpx.ASGITransport(app=create_api(state, ()))
    async with httpx.AsyncClient(transport=transport, base_url="http://fixwright") as client:
        yield Api(client, engine.store, hub, made.key)


async def a_job(store: SQLiteStore) -> str:
    """A queued job (any kind: the stream reads any job's log)."""
    job = NewJob("fix", "octo/repo", "octo/repo#1", 1, "octocat", {}, number=1)
    [job_id] = await store.record_delivery(Delivery(uuid.uuid4().hex, "issues"), [job]) or []
    return job_id


def messages(body: str) -> list[dict[str, Any]]:
    """The stream's messages (comments left out), each as its fields."""
    parsed = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line[:1] != ":")
        if fields:
            parsed.append({**fields, "data": json.loads(fields["data"])})
    return parsed


def bearer(api: Api, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.key}", **headers}


async def test_the_stream_gives_every_event_then_ends_after_the_terminal_one(api: Api) -> None:
    """Events appended while the client reads arrive in order, each with its id and kind."""
    job_id = await a_job(api.store)
    await api.store.append_event(job_id, "status", {"state": "running"})
    reading = asyncio.create_task(api.client.get(f"/v1/tasks/{job_id}/events", headers=bearer(api)))
    await wait_until(lambda: api.hub.readers(job_id) == 1)
    await api.store.append_event(job_id, "text", {"text": "Reading greet.py\n\nthen fixing"})
    await api.store.append_event(job_id, "completed", {"summary": "done"})
    await api.store.append_event(job_id, "text", {"text": "after the end"})
    answer = await reading
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert [(m["id"], m["event"], m["data"]) for m in messages(answer.text)] == [
        ("1", "status", {"state": "running"}),
        ("2", "text", {"text": "Reading greet.py\n\nthen fixing"}),
        ("3", "completed", {"summary": "done"}),
    ]


@pytest.mark.parametrize("where", ["header", "query"])
async def test_last_event_id_in_the_middle_gives_the_rest_exactly_once(
    api: Api, where: str
) -> None:
    job_id = await a_job(api.store)
    for n in range(1, 6):
        await api.store.append_event(job_id, "text", {"text": str(n)})
    await api.store.append_event(job_id, "failed", {"reason": "r", "next_step": "s"})
    if where == "header":
        answer = await api.client.get(
            f"/v1/tasks/{job_id}/events", headers=bearer(api, **{"Last-Event-ID": "3"})
        )
    else:
        answer = await api.client.get(
            f"/v1/tasks/{job_id}/events?last_event_id=3", headers=bearer(api)
        )
    assert [m["id"] for m in messages(answer.text)] == ["4", "5", "6"]


async def test_an_unknown_job_and_a_bad_resume_point_are_refused_in_the_error_shape(
    api: Api,
) -> None:
    missing = await api.client.get("/v1/tasks/nope/events", headers=bearer(api))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    job_id = await a_job(api.store)
    bad = await api.client.get(
        f"/v1/tasks/{job_id}/events", headers=bearer(api, **{"Last-Event-ID": "-1"})
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    anonymous = await api.client.get(f"/v1/tasks/{job_id}/events")
    assert anonymous.status_code == 401


def test_a_resume_point_is_a_whole_number_in_range() -> None:
    assert resume_point(None, None) == 0
    assert resume_point(" 12 ", None) == 12
    assert resume_point("7", "9") == 7  # the header wins
    for bad in ("-1", "1e3", "٣", "9" * 20, "0x10"):
        assert resume_point(bad, None) is None


async def test_a_quiet_stream_sends_heartbeats_and_ends_when_its_job_ended_without_one(
    engine: Engine,
) -> None:
    """A heartbeat comment after each quiet interval; a job that ended with no terminal event in
    its log (pruned, or older than typed events) ends its stream instead of beating forever."""
    hub = EventHub()
    job_id = await a_job(engine.store)
    stream = job_events(engine.store, hub, job_id, heartbeat_seconds=0.01)
    assert await anext(stream) == HEARTBEAT
    assert await anext(stream) == HEARTBEAT
    job = await engine.store.lease("worker", 60)
    assert job is not None and job.id == job_id
    await engine.store.finish(job_id, "worker", JobState.FAILED, "gone")
    with pytest.raises(StopAsyncIteration):
        while True:
            assert await anext(stream) == HEARTBEAT


async def test_a_stream_stops_when_its_client_goes_away(engine: Engine) -> None:
    """The reader leaves the hub as soon as the client disconnects, with no write to notice it."""
    hub = EventHub()
    job_id = await a_job(engine.store)
    response = EventStreamResponse(job_events(engine.store, hub, job_id, heartbeat_seconds=3600))
    gone = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "headers": []}
    serving = asyncio.create_task(response(scope, receive, send))
    await wait_until(lambda: hub.readers(job_id) == 1)
    gone.set()
    await asyncio.wait_for(serving, timeout=10)
    assert hub.readers(job_id) == 0
    assert sent[0]["status"] == 200
