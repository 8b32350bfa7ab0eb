"""Outgoing webhooks against a receiver this test runs on 127.0.0.1: queued when a task ends,
signed with the task's secret, retried with backoff on the sender's clock (a fake one here),
ended by a 2xx or a refusal, every attempt recorded, and sent after a restart."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.metrics import create_metrics
from app.outgoing_webhooks import (
    Answer,
    RetryPolicy,
    WebhookSender,
    deliver_task_webhook,
    next_move,
    retry_delay,
    sign,
)
from app.routing import Registry
from app.store import Job, JobState, NewJob, Task
from app.store.sqlite import SQLiteStore
from app.store.webhook_deliveries import (
    DELIVERED,
    FAILED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
)
from app.web import create_app
from tests.fakes.github.fixtures import FakeGitHub
from tests.fakes.tls_certificates import issue
from tests.fakes.webhook_receiver import WebhookReceiver, receiving
from tests.fixtures.inprocess import log_events
from tests.pg import open_test_store
from tests.test_health import served
from tests.waiting import wait_for, wait_until

SECRET = "whsec-0123456789abcdef-not-for-logs"
LOCAL = Settings(
    webhook_allow_private=True,
    webhook_allow_http=True,
    webhook_backoff_seconds=10.0,
    webhook_timeout_seconds=5.0,
)


class Clock:
    """The sender's clock: moves only when the test moves it."""

    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class State:
    settings: Settings
    store: SQLiteStore


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SQLiteStore]:
    """A store on each engine: the claims hold across PostgreSQL's nodes as in one process."""
    opened = open_test_store(store_url)
    yield opened  # type: ignore[misc]  # either engine's store; the tests use the Store's calls
    await opened.close()


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    fake = WebhookReceiver()
    with receiving(fake) as url:
        yield fake, url


async def ended_task(
    store: SQLiteStore,
    url: str,
    state: JobState = JobState.SUCCEEDED,
    summary: str = "Changed one file.",
) -> Job:
    """A task with a webhook, ended in `state`."""
    job = NewJob("task", "octo/repo", "octo/repo#task", None, "key:test", {"prompt": "fix it"})
    task = Task(job_id="", created_at=0.0, webhook_url=url, webhook_secret=SECRET)
    created = await store.create_task(job, task, since=0.0)
    if state is JobState.CANCELLED:
        assert await store.cancel(created.job_id, "cancelled through the API")
    else:
        leased = await store.lease("worker-1", 60)
        assert leased is not None and leased.id == created.job_id
        assert await store.finish(created.job_id, "worker-1", state, summary)
    ended = await store.get_job(created.job_id)
    assert ended is not None
    return ended


async def only_delivery(store: SQLiteStore, job: Job) -> WebhookDelivery:
    (delivery,) = await store.webhook_deliveries(job.id)
    return delivery


async def test_a_receiver_that_fails_once_gets_the_same_delivery_again_signed(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str], logged: list[dict[str, Any]]
) -> None:
    fake, url = receiver
    fake.statuses = [500]
    clock = Clock()
    job = await ended_task(store, f"{url}/hooks/fixwright?team=7")
    delivery_id = await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    assert delivery_id is not None
    metrics = create_metrics()
    sender = WebhookSender(LOCAL, store, clock=clock, jitter=lambda: 0.0, metrics=metrics)

    assert await sender.run_once() == 1
    first = await only_delivery(store, job)
    assert first.state == PENDING
    assert [t.status_code for t in first.tries] == [500]
    # The first retry waits between half and all of the backoff: half with no jitter.
    assert first.next_attempt_at == clock() + 5.0
    assert await sender.run_once() == 0  # not due yet
    clock.advance(5.0)
    assert await sender.run_once() == 1

    delivered = await only_delivery(store, job)
    assert delivered.state == DELIVERED
    assert [(t.number, t.status_code) for t in delivered.tries] == [(1, 500), (2, 200)]
    assert delivered.tries[-1].next_attempt_at is None
    assert delivered.target == url  # the origin only: the path and query are not kept
    assert len(fake.received) == 2
    for request in fake.received:
        assert request.signed_with(SECRET)
        assert request.path == "/hooks/fixwright"
        assert request.headers["x-fixwright-delivery"] == delivery_id
        assert request.headers["x-fixwright-event"] == "task.completed"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("fixwright/")
        body = request.json()
        assert body["event"] == "task.completed"
        assert body["delivery_id"] == delivery_id
        assert body["task"]["id"] == job.id
        assert body["task"]["status"] == "succeeded"
        # The task as `GET /v1/tasks/{id}` shows it.
        assert body["task"]["result"]["success"] is True
        assert body["task"]["result"]["summary"] == "Changed one file."
        assert body["task"]["links"]["self"] == f"/v1/tasks/{job.id}"
        assert body["sent_at"].endswith("Z")
    assert not fake.received[0].signed_with("another secret")
    # The secret is in the signature only: not in the records, not in the log.
    assert SECRET not in repr(await store.webhook_deliveries(job.id))
    assert SECRET not in json.dumps(logged, default=str)
    assert [line["attempt"] for line in log_events(logged, "webhook.attempt")] == [1, 2]
    counted = metrics.outgoing_webhooks
    assert counted.labels(outcome="retrying")._value.get() == 1
    assert counted.labels(outcome="delivered")._value.get() == 1
    assert counted.labels(outcome="failed")._value.get() == 0


def test_the_signature_is_the_hmac_of_the_raw_body() -> None:
    # As a receiver recomputes it (the README's example, in Python).
    body = b'{"event":"task.completed"}'
    assert sign("It's a Secret to Everybody", body) == (
        "sha256="
        + __import__("hmac").new(b"It's a Secret to Everybody", body, "sha256").hexdigest()
    )


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_a_client_error_ends_the_delivery_without_a_retry(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str], status: int
) -> None:
    fake, url = receiver
    fake.statuses = [status]
    clock = Clock()
    job = await ended_task(store, url + "/", JobState.FAILED, "the tests failed")
    await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    sender = WebhookSender(LOCAL, store, clock=clock)
    assert await sender.run_once() == 1
    clock.advance(86_400)
    assert await sender.run_once() == 0
    failed = await only_delivery(store, job)
    assert failed.state == FAILED
    assert f"answered {status}" in failed.outcome
    assert [t.status_code for t in failed.tries] == [status]
    assert failed.tries[0].next_attempt_at is None
    assert len(fake.received) == 1
    assert fake.received[0].json()["event"] == "task.failed"


@pytest.mark.parametrize("status", [408, 429, 502, 503])
async def test_timeouts_rate_limits_and_server_errors_are_retried(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str], status: int
) -> None:
    fake, url = receiver
    fake.statuses = [status]
    clock = Clock()
    job = await ended_task(store, url)
    await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    sender = WebhookSender(LOCAL, store, clock=clock, jitter=lambda: 0.0)
    await sender.run_once()
    assert (await only_delivery(store, job)).state == PENDING
    clock.advance(10.0)
    await sender.run_once()
    assert (await only_delivery(store, job)).state == DELIVERED


async def test_a_redirect_is_not_followed(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str]
) -> None:
    fake, url = receiver
    fake.statuses = [302]
    fake.extra_headers = [(b"location", f"{url}/elsewhere".encode())]
    clock = Clock()
    job = await ended_task(store, url + "/hook")
    await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    await WebhookSender(LOCAL, store, clock=clock).run_once()
    failed = await only_delivery(store, job)
    assert failed.state == FAILED and "redirect" in failed.outcome
    assert [r.path for r in fake.received] == ["/hook"]


async def test_a_name_that_resolves_to_loopback_is_refused_unless_allowed(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str]
) -> None:
    fake, url = receiver
    port = url.rsplit(":", 1)[1]
    public_only = replace(LOCAL, webhook_allow_private=False)
    clock = Clock()
    job = await ended_task(store, f"http://localhost:{port}/hook")
    await deliver_task_webhook(State(public_only, store), job, now=clock())
    await WebhookSender(public_only, store, clock=clock).run_once()
    refused = await only_delivery(store, job)
    assert refused.state == FAILED
    assert refused.tries[0].status_code is None
    assert "refused" in refused.tries[0].error
    assert "localhost resolves to" in refused.tries[0].error
    assert "loopback" in refused.tries[0].error
    assert fake.received == []


async def test_the_request_goes_to_the_address_that_was_checked(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str]
) -> None:
    # `receiver.test` has no address in any DNS: only the checked answer can reach the receiver,
    # so the client did not look the name up again.
    fake, url = receiver
    port = int(url.rsplit(":", 1)[1])
    looked_up: list[str] = []

    async def resolve(host: str, at_port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    clock = Clock()
    job = await ended_task(store, f"http://receiver.test:{port}/hook")
    await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    await WebhookSender(LOCAL, store, clock=clock, resolve=resolve).run_once()
    assert (await only_delivery(store, job)).state == DELIVERED
    assert looked_up == ["receiver.test"]
    assert fake.received[0].headers["host"] == f"receiver.test:{port}"


async def test_no_answer_in_time_and_no_listener_are_retried(store: SQLiteStore) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
    try:
        settings = replace(LOCAL, webhook_timeout_seconds=1.0)
        clock = Clock()
        quiet = await ended_task(store, f"http://127.0.0.1:{silent.getsockname()[1]}/")
        gone = await ended_task(store, f"http://127.0.0.1:{closed.getsockname()[1]}/")
        for job in (quiet, gone):
            await deliver_task_webhook(State(settings, store), job, now=clock())
        assert await WebhookSender(settings, store, clock=clock).run_once() == 2
    finally:
        silent.close()
        closed.close()
    waited = await only_delivery(store, quiet)
    assert waited.state == PENDING and "no answer within 1 s" in waited.tries[0].error
    refused = await only_delivery(store, gone)
    assert refused.state == PENDING and "could not reach the receiver" in refused.tries[0].error


async def test_the_receiver_s_answer_is_kept_short_and_clean(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str]
) -> None:
    fake, url = receiver
    fake.statuses = [503]
    fake.answer = b"\x1b[31mdown\x1b[0m \xe2\x80\xaeevil\n\r" + b"x" * 100_000
    clock = Clock()
    job = await ended_task(store, url)
    await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    await WebhookSender(LOCAL, store, clock=clock).run_once()
    excerpt = (await only_delivery(store, job)).tries[0].response_excerpt
    assert excerpt.startswith("[31mdown [0m evil x")
    assert len(excerpt) <= 200
    assert not any(ch in excerpt for ch in "\x1b\u202e\n\r")


async def test_a_task_is_delivered_once_and_only_with_a_webhook(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str]
) -> None:
    _, url = receiver
    state = State(LOCAL, store)
    cancelled = await ended_task(store, url, JobState.CANCELLED)
    assert await deliver_task_webhook(state, cancelled) is not None
    assert await deliver_task_webhook(state, cancelled) is None
    assert (await only_delivery(store, cancelled)).event == "task.cancelled"
    silent = await ended_task(store, "")
    assert await deliver_task_webhook(state, silent) is None
    assert await store.webhook_deliveries(silent.id) == []


async def test_a_task_still_running_queues_nothing(store: SQLiteStore) -> None:
    job = NewJob("task", "octo/repo", "octo/repo#task", None, "key:test", {})
    task = Task(
        job_id="", created_at=0.0, webhook_url="https://hooks.example.com/", webhook_secret=SECRET
    )
    created = await store.create_task(job, task, since=0.0)
    queued = await store.get_job(created.job_id)
    assert queued is not None
    assert await deliver_task_webhook(State(LOCAL, store), queued) is None


async def test_a_queued_delivery_is_sent_after_a_restart(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    fake, url = receiver
    clock = Clock()
    before = SQLiteStore(tmp_path / "restart.db")
    job = await ended_task(before, url + "/after-restart")
    await deliver_task_webhook(State(LOCAL, before), job, now=clock())
    # A sender took it and died mid-attempt: its claim runs out, and nothing was recorded.
    (claimed,) = await before.claim_webhooks(clock(), clock() + 60, "died", 8)
    await before.close()

    after = SQLiteStore(tmp_path / "restart.db")
    try:
        sender = WebhookSender(LOCAL, after, clock=clock)
        assert await sender.run_once() == 0  # still claimed
        clock.advance(61)
        loop = asyncio.create_task(sender.run(interval=0.01))
        try:
            await wait_until(lambda: fake.received, within=10)
            delivered = await wait_until(lambda: _delivered(after, job.id), within=10)
        finally:
            loop.cancel()
        assert delivered.id == claimed.id
        assert [t.number for t in delivered.tries] == [1]
        assert fake.received[0].headers["x-fixwright-delivery"] == claimed.id
        # The dead sender's late word is not taken.
        late = replace(delivered.tries[0], number=2)
        assert not await after.record_webhook_attempt(claimed.id, "died", late, FAILED, "late")
    finally:
        await after.close()


async def _delivered(store: SQLiteStore, job_id: str) -> WebhookDelivery | None:
    (delivery,) = await store.webhook_deliveries(job_id)
    return delivery if delivery.state == DELIVERED else None


def test_backoff_doubles_with_its_upper_half_random() -> None:
    assert [retry_delay(n, 10.0, 0.0) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert [retry_delay(n, 10.0, 0.999) for n in (1, 2)] == pytest.approx([9.995, 19.99])
    assert retry_delay(40, 10.0, 1.0) == 3600.0  # no single wait is longer than an hour


def test_retries_stop_at_the_attempts_and_the_time_allowed() -> None:
    policy = RetryPolicy(max_attempts=3, retry_for=60.0, backoff=10.0)
    delivery = WebhookDelivery("d", "j", "task.failed", "https://h", created_at=1000.0)
    error = Answer(status=500)
    assert next_move(delivery, 1, error, 1000.0, policy, 0.0) == (
        PENDING,
        1005.0,
        "the receiver answered 500",
    )
    state, at, outcome = next_move(delivery, 3, error, 1030.0, policy, 0.0)
    assert (state, at) == (FAILED, None) and "gave up after 3 attempts" in outcome
    state, at, outcome = next_move(delivery, 2, error, 1055.0, policy, 0.0)
    assert (state, at) == (FAILED, None) and "in 60 s" in outcome
    # A receiver's Retry-After is waited out when it is longer than the backoff.
    slow = Answer(status=429, wait=30.0)
    assert next_move(delivery, 1, slow, 1000.0, policy, 0.0)[:2] == (PENDING, 1030.0)
    assert next_move(delivery, 1, Answer(status=204), 1000.0, policy, 0.0)[:2] == (DELIVERED, None)


async def test_a_task_that_ended_without_its_delivery_queued_is_caught_up(
    store: SQLiteStore, receiver: tuple[WebhookReceiver, str]
) -> None:
    fake, url = receiver
    # The service stopped between the task's end and the queuing of its webhook.
    job = await ended_task(store, url)
    clock = Clock(time.time() + 1)
    sender = WebhookSender(LOCAL, store, clock=clock)
    assert await sender.catch_up() == 1
    assert await sender.catch_up() == 0
    assert await sender.run_once() == 1
    assert (await only_delivery(store, job)).state == DELIVERED
    assert len(fake.received) == 1
    # A task that ended longer ago than its webhook would be retried is left alone.
    clock.advance(LOCAL.webhook_retry_for_seconds + 1)
    old = await ended_task(store, url, JobState.FAILED)
    assert await sender.catch_up() == 0
    assert await store.webhook_deliveries(old.id) == []


async def test_ended_deliveries_go_with_the_retention_and_pending_ones_stay(
    store: SQLiteStore,
) -> None:
    state = State(LOCAL, store)
    done = await ended_task(store, "https://hooks.example.com/a", JobState.CANCELLED)
    waiting = await ended_task(store, "https://hooks.example.com/b", JobState.CANCELLED)
    await deliver_task_webhook(state, done, now=1000.0)
    await deliver_task_webhook(state, waiting, now=1000.0)
    claimed = await store.claim_webhooks(1000.0, 1100.0, "me", 8)
    ended = next(d for d in claimed if d.job_id == done.id)
    attempt = WebhookAttempt(number=1, at=1001.0, duration_ms=3, status_code=204)
    assert await store.record_webhook_attempt(ended.id, "me", attempt, DELIVERED, "delivered")
    pruned = await store.prune(before=5000.0)
    assert pruned.webhook_deliveries == 1
    assert await store.webhook_deliveries(done.id) == []
    assert [d.state for d in await store.webhook_deliveries(waiting.id)] == [PENDING]


def test_the_service_sends_what_was_queued_before_it_started(
    fake_github: FakeGitHub, tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    # The sender is part of the service's lifespan: a delivery queued while it was down (here,
    # before it ever started) is sent once it runs.
    fake, url = receiver
    settings = replace(
        fake_github.settings(),
        store_url=f"sqlite:///{tmp_path / 'fixwright.db'}",
        workers=0,
        state_dir=str(tmp_path),
        webhook_allow_private=True,
        webhook_allow_http=True,
    )

    async def queue() -> str:
        store = SQLiteStore(tmp_path / "fixwright.db")
        try:
            job = await ended_task(store, url + "/down-then-up")
            delivery_id = await deliver_task_webhook(State(settings, store), job)
            assert delivery_id is not None
            return delivery_id
        finally:
            await store.close()

    delivery_id = asyncio.run(queue())
    with served(create_app(settings, Registry([]))):
        wait_for(lambda: fake.received)
    assert fake.received[0].headers["x-fixwright-delivery"] == delivery_id
    assert fake.received[0].signed_with(SECRET)


async def test_an_attempt_that_breaks_unexpectedly_is_recorded_and_ends(
    store: SQLiteStore,
) -> None:
    # Were it not recorded, its claim would run out and it would be tried forever, unseen.
    async def broken(host: str, port: int) -> list[str]:
        raise RuntimeError("a resolver bug")

    clock = Clock()
    job = await ended_task(store, "https://hooks.example.com/")
    await deliver_task_webhook(State(LOCAL, store), job, now=clock())
    assert await WebhookSender(LOCAL, store, clock=clock, resolve=broken).run_once() == 1
    failed = await only_delivery(store, job)
    assert failed.state == FAILED
    assert failed.tries[0].error == "the request could not be made (RuntimeError)"


async def test_https_goes_to_the_checked_address_with_the_certificate_checked_for_the_name(
    store: SQLiteStore, tmp_path: Path
) -> None:
    certificate = issue(tmp_path / "tls", "receiver.test")
    trusted = ssl.create_default_context(cafile=str(certificate.ca_pem))
    fake = WebhookReceiver()
    settings = replace(LOCAL, webhook_allow_http=False)

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    clock = Clock()
    with receiving(fake, certificate) as url:
        port = url.rsplit(":", 1)[1]
        named = await ended_task(store, f"https://receiver.test:{port}/tls")
        # The same address under a name the certificate does not carry.
        other = await ended_task(store, f"https://elsewhere.test:{port}/tls")
        for job in (named, other):
            await deliver_task_webhook(State(settings, store), job, now=clock())
        sender = WebhookSender(settings, store, clock=clock, resolve=resolve, tls=trusted)
        assert await sender.run_once() == 2
    assert (await only_delivery(store, named)).state == DELIVERED
    assert [r.headers["host"] for r in fake.received] == [f"receiver.test:{port}"]
    refused = await only_delivery(store, other)
    assert refused.state == PENDING
    assert "CERTIFICATE_VERIFY_FAILED" in refused.tries[0].error
