"""The PostgreSQL store shared by several nodes: leases taken once and one job per target at a
time while nodes lease at once, a delivery recorded once however many nodes get it, new jobs and
log entries heard by every node, and a database restart survived by the same store object."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from app.store import Delivery, JobState, NewJob, StoreUnavailable
from app.store.dialect import LOCK_SPACE
from app.store.postgres import PostgresStore
from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fixtures.service import ServiceProcess
from tests.pg import PrivateServer, create_database, database_url, fresh_database
from tests.waiting import wait_for, wait_until

NODES = 2
WORKERS_PER_NODE = 8
TARGETS = 6
DELIVERIES_PER_TARGET = 24


def new_job(target: str, kind: str = "fix") -> NewJob:
    return NewJob(
        kind=kind,
        repository=target.split("#")[0],
        target=target,
        number=int(target.split("#")[1]),
        installation_id=7,
        requested_by="octocat",
        payload={"note": "50% done?"},  # a literal % and ? reach the database as they are
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
async def nodes(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    opened = [PostgresStore(pg_url) for _ in range(NODES)]
    yield opened
    for store in opened:
        await store.close()


async def test_nodes_leasing_at_once_take_each_job_once_and_one_per_target(
    nodes: list[PostgresStore],
) -> None:
    """Many workers on two nodes lease while deliveries keep arriving, each a newer trigger of
    the same target and kind as those waiting (which makes an older one leasable in one node's
    view and the newer in another's): every job is leased exactly once, and no target ever has
    two jobs running."""
    targets = [f"octo/hello#{n}" for n in range(1, TARGETS + 1)]
    queued: list[str] = []
    leased: list[str] = []
    running: dict[str, set[str]] = {}
    overlaps: list[tuple[str, ...]] = []
    arrivals_done = asyncio.Event()

    async def arrive(target_index: int) -> None:
        target = targets[target_index]
        for round_ in range(DELIVERIES_PER_TARGET):
            node = nodes[(round_ + target_index) % NODES]
            ids = await node.record_delivery(
                Delivery(f"d-{round_}-{target_index}", "issues"), [new_job(target)]
            )
            queued.extend(ids or [])

    async def arrivals() -> None:
        await asyncio.gather(*(arrive(index) for index in range(TARGETS)))
        arrivals_done.set()

    async def work(node: PostgresStore, worker_id: str) -> None:
        while True:
            job = await node.lease(worker_id, 600)
            if job is None:
                if arrivals_done.is_set() and len(leased) == len(queued):
                    return
                await asyncio.sleep(0.002)
                continue
            leased.append(job.id)
            together = running.setdefault(job.target, set())
            together.add(job.id)
            if len(together) > 1:
                overlaps.append((job.target, *sorted(together)))
            await asyncio.sleep(0.001)  # the job "runs", other workers lease meanwhile
            together.discard(job.id)
            assert await node.finish(job.id, worker_id, JobState.SUCCEEDED, "done")

    workers = [
        work(node, f"node{n}-worker{w}")
        for n, node in enumerate(nodes)
        for w in range(WORKERS_PER_NODE)
    ]
    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(arrivals(), *workers), timeout=180)
    elapsed = time.perf_counter() - started

    assert overlaps == []
    assert len(leased) == len(set(leased)) == len(queued) == TARGETS * DELIVERIES_PER_TARGET
    assert set(leased) == set(queued)
    jobs = await nodes[0].list_jobs(limit=1000)
    assert {job.state for job in jobs} == {JobState.SUCCEEDED}
    assert all(job.attempts == 1 for job in jobs)
    print(f"{len(leased)} jobs leased and finished by {len(workers)} workers in {elapsed:.2f}s")


async def test_a_target_another_node_is_leasing_for_is_passed_over(
    nodes: list[PostgresStore], pg_url: str
) -> None:
    """While another node's lease holds a target's lock (between its pick and its commit), a
    lease takes a job of another target, and that target's job only once the lock is gone."""
    await nodes[0].record_delivery(Delivery("d-busy", "issues"), [new_job("o/r#1")])
    await nodes[0].record_delivery(Delivery("d-free", "issues"), [new_job("o/r#2")])
    with psycopg.connect(pg_url) as other:  # a transaction, as a lease on another node is
        other.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_SPACE, "target:o/r#1")
        )
        first = await nodes[1].lease("w1", 60)
        second = await nodes[1].lease("w2", 60)
        assert first is not None and first.target == "o/r#2"
        assert second is None
    third = await nodes[1].lease("w3", 60)
    assert third is not None and third.target == "o/r#1"


async def test_one_delivery_recorded_by_two_nodes_at_once_queues_its_jobs_once(
    nodes: list[PostgresStore],
) -> None:
    """GitHub's delivery, or a replay of its body, reaching both nodes at the same moment is
    recorded by one of them; the other is told it is a duplicate."""
    for attempt in range(20):
        body = bytes([attempt]) * 32
        first, second = await asyncio.gather(
            nodes[0].record_delivery(
                Delivery(f"same-{attempt}", "issues", body_sha256=body), [new_job("o/r#1")]
            ),
            nodes[1].record_delivery(
                Delivery(f"same-{attempt}", "issues", body_sha256=body), [new_job("o/r#1")]
            ),
        )
        replayed, original = await asyncio.gather(
            nodes[0].record_delivery(
                Delivery(f"replay-{attempt}", "issues", body_sha256=body * 2), [new_job("o/r#2")]
            ),
            nodes[1].record_delivery(
                Delivery(f"other-{attempt}", "issues", body_sha256=body * 2), [new_job("o/r#2")]
            ),
        )
        assert [first is None, second is None].count(True) == 1
        assert [replayed is None, original is None].count(True) == 1
    assert len(await nodes[0].list_jobs(limit=1000)) == 40


async def test_deliveries_arriving_together_share_a_commit_and_a_bad_one_fails_alone(
    pg_url: str,
) -> None:
    """The intake's group commit on PostgreSQL: deliveries recorded at once go in one
    transaction (their rows share its id), and one the database refuses (a NUL in a text
    column) fails alone while the rest of its group is committed."""
    store = PostgresStore(pg_url)

    def deliveries(first: int, bad: int | None = None) -> list[Any]:
        return [
            store.record_delivery(
                Delivery(f"d{n}", "issues", repository="o/\x00r" if n == bad else "o/r"),
                [new_job(f"o/r#{n}")],
            )
            for n in range(first, first + 20)
        ]

    try:
        together = await asyncio.gather(*deliveries(0))
        with psycopg.connect(pg_url) as connection:
            rows = connection.execute("SELECT COUNT(*), COUNT(DISTINCT xmin::text) FROM deliveries")
            assert rows.fetchone() == (20, 1)
        outcomes = await asyncio.gather(*deliveries(20, bad=27), return_exceptions=True)
    finally:
        await store.close()
    assert all(len(ids or []) == 1 for ids in together)
    assert isinstance(outcomes.pop(7), psycopg.DataError)
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in outcomes)
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT COUNT(*) FROM jobs").fetchone() == (39,)


async def test_grouped_deliveries_are_answered_when_their_transaction_cannot_even_start(
    pg_url: str,
) -> None:
    """A group whose run fails outside any call (here the store's threads are gone) answers
    every caller StoreUnavailable, which the intake turns into a 503; none is left waiting."""
    store = PostgresStore(pg_url)
    try:
        store._executor.shutdown()
        calls = [
            store.record_delivery(Delivery(f"d{n}", "issues"), [new_job(f"o/r#{n}")])
            for n in range(3)
        ]
        outcomes = await asyncio.wait_for(
            asyncio.gather(*calls, return_exceptions=True), timeout=30
        )
    finally:
        await store.close()
    assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes), outcomes


async def test_an_idempotency_key_given_to_two_nodes_at_once_creates_one_task(
    nodes: list[PostgresStore],
) -> None:
    """The task API's promise holds across nodes: one job per key, the other node's answer is
    that same job."""
    from app.store import Task

    for attempt in range(10):
        key = f"key-{attempt}"
        task = Task(job_id="", created_at=0.0, idempotency_key=key, body_sha256="b")
        one, other = await asyncio.gather(
            *(node.create_task(new_job("o/r#3", kind="task"), task, 0.0) for node in nodes)
        )
        assert one.job_id == other.job_id
        assert [one.created, other.created].count(True) == 1


async def test_outgoing_webhooks_claimed_by_two_nodes_at_once_are_each_sent_by_one(
    nodes: list[PostgresStore],
) -> None:
    """Every node's sender claims the due deliveries at once: each delivery is claimed by one
    node only, so a task's receiver is not told twice."""
    from app.store import Task, WebhookDelivery

    for n in range(24):
        created = await nodes[0].create_task(
            new_job(f"o/r#{n + 10}", kind="task"), Task(job_id="", created_at=0.0), 0.0
        )
        delivery = WebhookDelivery(f"w{n}", created.job_id, "task.succeeded", "https://h")
        assert await nodes[0].queue_webhook(delivery)
    claimed: list[str] = []
    for _ in range(12):
        now = time.time()
        batches = await asyncio.gather(
            *(node.claim_webhooks(now, now + 60, f"node-{i}", 4) for i, node in enumerate(nodes))
        )
        claimed += [delivery.id for batch in batches for delivery in batch]
    assert sorted(claimed) == sorted(f"w{n}" for n in range(24))


async def test_a_job_queued_on_one_node_wakes_the_listeners_of_every_node(
    nodes: list[PostgresStore],
) -> None:
    """NOTIFY on commit: node B's job and event listeners are called for node A's writes."""
    woken: list[str] = []
    appended: list[tuple[str, int]] = []
    nodes[1].watch_jobs(lambda: woken.append("job"))
    nodes[1].watch_events(lambda job_id, seq: appended.append((job_id, seq)))
    await wait_until(lambda: woken, within=30)  # the listener is connected (and woke once)
    woken.clear()

    [job_id] = await nodes[0].record_delivery(Delivery("d-1", "issues"), [new_job("o/r#4")]) or []
    await wait_until(lambda: woken, within=30)
    job = await nodes[0].lease("w", 60)
    assert job is not None and job.id == job_id
    seq = await nodes[0].append_event(job_id, "claude", {"type": "assistant"})
    await wait_until(lambda: (job_id, seq) in appended, within=30)

    woken.clear()
    assert await nodes[0].release(job_id, "w")  # put back: leasable again
    await wait_until(lambda: woken, within=30)


async def test_a_store_answers_store_unavailable_while_postgresql_is_down_then_recovers() -> None:
    """The database restarts under a live store: calls made meanwhile raise StoreUnavailable
    (what the intake answers 503 for), and afterwards the same store object works again with
    everything committed before still there."""
    server = PrivateServer()
    try:
        server.start()
        name = create_database(server.url)
        url = database_url(name, server.url)
        store = PostgresStore(url)
        woken: list[int] = []
        store.watch_jobs(lambda: woken.append(1))
        try:
            ids = await store.record_delivery(Delivery("before", "issues"), [new_job("o/r#5")])
            assert ids is not None

            await asyncio.to_thread(server.stop)
            with pytest.raises(StoreUnavailable):
                await store.record_delivery(Delivery("during", "issues"), [new_job("o/r#6")])
            with pytest.raises(StoreUnavailable):
                await store.ping()

            await asyncio.to_thread(server.start)

            async def recovered() -> bool:
                try:
                    await store.ping()
                except StoreUnavailable:
                    return False
                return True

            await wait_until(recovered, within=60, interval=0.2)
            assert await store.has_delivery("before")
            job = await store.get_job(ids[0])
            assert job is not None and job.state is JobState.QUEUED
            woken.clear()
            again = await store.record_delivery(Delivery("after", "issues"), [new_job("o/r#6")])
            assert again is not None
            await wait_until(lambda: woken, within=60)  # the listener reconnected too
        finally:
            await store.close()
    finally:
        server.remove()


def test_the_intake_answers_503_while_postgresql_is_down_and_queues_once_it_is_back(
    service_process: ServiceProcess,
) -> None:
    """`fixwright serve` on PostgreSQL: a delivery the store cannot record is answered 503
    store_unavailable (GitHub records a failure, the reconciler asks again), and its
    redelivery after the restart is queued by the same process."""
    server = PrivateServer()
    try:
        server.start()
        url = database_url(create_database(server.url), server.url)
        service = service_process.start(FIXWRIGHT_STORE_URL=url, FIXWRIGHT_WORKERS="0")
        payload = labeled_issue(REPOSITORY, INSTALLATION_ID, 7)
        delivery_id = str(uuid.uuid4())
        server.stop()
        refused = service.post("issues", payload, delivery_id=delivery_id)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "store_unavailable"
        server.start()

        def redelivered() -> httpx.Response | None:
            response = service.post("issues", payload, delivery_id=delivery_id)
            return response if response.status_code == 202 else None

        accepted = wait_for(redelivered, timeout=60)
        assert accepted.json()["status"] == "queued"
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT id FROM deliveries").fetchall()
        assert rows == [(delivery_id,)]
    finally:
        service_process.stop()
        server.remove()


def test_psycopg_sees_the_shared_server() -> None:
    """The shared server the other tests use is reachable (tests/setup.sh starts it)."""
    with psycopg.connect(database_url("postgres"), connect_timeout=5) as connection:
        (version,) = connection.execute("SHOW server_version_num").fetchone() or (0,)
    assert int(version) >= 110000
