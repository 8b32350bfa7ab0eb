"""The event hub wakes the readers of a job's log, and never loses a wake-up."""

from __future__ import annotations

import asyncio
from functools import partial

from app.event_hub import EventHub
from tests.pg import open_test_store
from tests.waiting import wait_until


async def test_an_event_appended_before_the_wait_wakes_it_at_once() -> None:
    """A reader that read up to seq 3 and waits after seq 4 was appended returns at once."""
    hub = EventHub()
    hub.notify("job", 4)
    assert await hub.wait("job", 3, timeout=60)
    assert not await hub.wait("job", 4, timeout=0.01)


async def test_a_waiting_reader_is_woken_by_its_job_only() -> None:
    hub = EventHub()
    mine = asyncio.create_task(hub.wait("mine", 0, timeout=60))
    other = asyncio.create_task(hub.wait("other", 0, timeout=60))
    await wait_until(lambda: hub.readers("mine") == 1 and hub.readers("other") == 1)
    hub.notify("mine", 1)
    assert await mine
    assert not other.done()
    hub.notify("other", 1)
    assert await other
    assert hub.readers("mine") == hub.readers("other") == 0


async def test_a_forgotten_job_still_wakes_its_readers_on_its_next_event() -> None:
    """Past the remembered jobs the oldest is forgotten; its next event wakes its reader."""
    hub = EventHub(remembered_jobs=2)
    for job in ("a", "b", "c"):
        hub.notify(job, 1)
    assert hub.latest("a") == 0
    reader = asyncio.create_task(hub.wait("a", 1, timeout=60))
    await wait_until(lambda: hub.readers("a") == 1)
    hub.notify("a", 2)
    assert await reader


async def test_many_readers_of_a_busy_job_each_see_every_event_once(store_url: str) -> None:
    """Readers loop read-then-wait, sharing their reads as the streams do, while a writer appends
    as fast as the store takes it: each reader ends with every sequence number exactly once (a
    lost wake-up would leave one stuck until its long timeout, and the deadline would fail). On
    PostgreSQL the wake-ups come through NOTIFY, as they do from another node."""
    store = open_test_store(store_url)
    hub = EventHub()
    store.watch_events(hub.notify)
    total = 300
    seen: list[list[int]] = [[] for _ in range(20)]

    async def read(into: list[int]) -> None:
        last = 0
        while last < total:
            read = partial(store.events, "job", last)
            for event in await hub.read_once("job", last, read):
                into.append(event.seq)
                last = event.seq
            if last < total:
                await hub.wait("job", last, timeout=60)

    try:
        readers = [asyncio.create_task(read(into)) for into in seen]
        for n in range(total):
            await store.append_event("job", "text", {"text": str(n)})
            if n % 7 == 0:
                await asyncio.sleep(0)  # let readers in between appends too
        await asyncio.wait_for(asyncio.gather(*readers), timeout=30)
    finally:
        await store.close()
    assert all(into == list(range(1, total + 1)) for into in seen)


async def test_readers_woken_together_share_one_store_read() -> None:
    """Twenty readers asking for the same events at once cause one read; a later ask, another."""
    hub = EventHub()
    calls = 0
    release = asyncio.Event()

    async def read() -> list[int]:
        nonlocal calls
        calls += 1
        await release.wait()
        return [calls]

    readers = [asyncio.create_task(hub.read_once("job", 3, read)) for _ in range(20)]
    await wait_until(lambda: calls == 1)
    release.set()
    assert await asyncio.gather(*readers) == [[1]] * 20
    assert await hub.read_once("job", 3, read) == [2]
