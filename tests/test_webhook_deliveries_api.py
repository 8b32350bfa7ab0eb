"""`GET /v1/tasks/{id}/webhook-deliveries` in process: a task created through the API, run by the
worker with `FakeSandbox`, tells its webhook (a receiver this test runs on 127.0.0.1, allowed by
the settings) once it ends, and the list shows each attempt without the secret."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.datastructures import State

from app.api.auth import new_key
from app.api.context import ApiState
from app.api.mount import create_api
from app.api.webhook_deliveries import OPERATIONS, PATH
from app.event_hub import EventHub
from app.outgoing_webhooks import WebhookSender
from app.store import JobState
from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.sandbox import ScriptedRun, tool
from tests.fakes.webhook_receiver import WebhookReceiver, receiving
from tests.fixtures.inprocess import Engine, EngineFactory, finished

OWNER, NAME = REPOSITORY.split("/")
SECRET = "whsec-listed-nowhere-0123456789abcdef"
GREET = "hello/greet.py"
GREETING = ScriptedRun(
    summary="greet() now says Hi.",
    files={GREET: 'def greet(name: str) -> str:\n    return f"Hi, {name}!"\n'},
    tools=(tool("Edit", file_path=f"/workspace/{GREET}"),),
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    fake = WebhookReceiver()
    with receiving(fake) as url:
        yield fake, url


@pytest.fixture
async def local_engine(make_engine: EngineFactory) -> Engine:
    return await make_engine(webhook_allow_private=True, webhook_allow_http=True)


@pytest.fixture
async def client(local_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    state = State()
    state.api = ApiState(
        local_engine.settings,
        local_engine.store,
        local_engine.metrics,
        local_engine.registry,
        local_engine.pool,
        hub=EventHub(),
    )
    app = create_api(state, [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://fixwright"
    ) as opened:
        yield opened


async def bearer(engine: Engine, *scopes: str) -> dict[str, str]:
    made = new_key("ci", scopes or ("tasks:read", "tasks:write"), time.time() - 60)
    await engine.store.add_api_key(made.record)
    return {"Authorization": f"Bearer {made.key}"}


async def test_a_task_tells_its_webhook_and_lists_each_attempt(
    local_engine: Engine,
    client: httpx.AsyncClient,
    receiver: tuple[WebhookReceiver, str],
) -> None:
    fake, url = receiver
    fake.statuses = [500]
    fake.answer = b"\x1b[2Jbusy, try later"
    headers = await bearer(local_engine)
    local_engine.script(GREETING)
    created = await client.post(
        "/v1/tasks",
        json={
            "prompt": "Make greet() say Hi.",
            "repository": {"owner": OWNER, "name": NAME},
            "webhook": {"url": f"{url}/hooks/ci?token=receiver-own", "secret": SECRET},
        },
        headers=headers,
    )
    assert created.status_code == 202, created.text
    job = finished(await local_engine.run_next(), JobState.SUCCEEDED)

    listed = await client.get(PATH.format(id=job.id), headers=headers)
    assert listed.status_code == 200, listed.text
    [queued] = listed.json()["deliveries"]
    assert (queued["event"], queued["state"], queued["attempts"]) == (
        "task.completed",
        "pending",
        [],
    )

    clock = Clock(time.time() + 1)  # the sender's clock, moved by the test from now on
    sender = WebhookSender(local_engine.settings, local_engine.store, clock=clock, jitter=lambda: 0)
    assert await sender.run_once() == 1
    clock.now += local_engine.settings.webhook_backoff_seconds
    assert await sender.run_once() == 1

    listed = await client.get(PATH.format(id=job.id), headers=headers)
    [delivery] = listed.json()["deliveries"]
    assert delivery["state"] == "delivered"
    assert delivery["target"] == url
    assert delivery["next_attempt_at"] is None and delivery["finished_at"].endswith("Z")
    first, second = delivery["attempts"]
    assert (first["number"], first["status_code"], second["status_code"]) == (1, 500, 200)
    assert first["response_excerpt"] == "[2Jbusy, try later"
    assert first["next_attempt_at"] is not None and second["next_attempt_at"] is None
    assert (
        SECRET not in listed.text
        and "receiver-own" not in listed.text
        and "/hooks" not in listed.text
    )

    assert [r.headers["x-fixwright-delivery"] for r in fake.received] == [delivery["id"]] * 2
    assert all(r.signed_with(SECRET) for r in fake.received)
    assert all(r.path == "/hooks/ci" for r in fake.received)
    body = fake.received[-1].json()
    assert body["task"]["id"] == job.id and body["task"]["status"] == "succeeded"
    assert body["task"]["result"]["summary"] == "greet() now says Hi."
    assert SECRET not in fake.received[-1].body.decode()


async def test_a_task_without_a_webhook_lists_none(
    local_engine: Engine, client: httpx.AsyncClient
) -> None:
    headers = await bearer(local_engine)
    local_engine.script(GREETING)
    created = await client.post(
        "/v1/tasks",
        json={"prompt": "Say hi.", "repository": {"owner": OWNER, "name": NAME}},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    job = finished(await local_engine.run_next(), JobState.SUCCEEDED)
    listed = await client.get(PATH.format(id=job.id), headers=headers)
    assert listed.json() == {"deliveries": []}


async def test_an_unknown_task_is_a_404_and_the_scope_is_needed(
    local_engine: Engine, client: httpx.AsyncClient
) -> None:
    unknown = await client.get(
        PATH.format(id="f" * 32), headers=await bearer(local_engine, "tasks:read")
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    long = await client.get(PATH.format(id="f" * 500), headers=await bearer(local_engine))
    assert long.status_code == 404
    no_scope = await client.get(
        PATH.format(id="f" * 32), headers=await bearer(local_engine, "audit:read")
    )
    assert no_scope.status_code == 403
    assert no_scope.json()["error"]["code"] == "forbidden"
    assert (await client.get(PATH.format(id="f" * 32))).status_code == 401


async def test_the_operation_is_described(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["paths"][PATH]["get"] == OPERATIONS[PATH]["get"]
    schema = document["components"]["schemas"]["WebhookDeliveryView"]
    assert set(schema["properties"]["state"]["enum"]) == {"pending", "delivered", "failed"}
