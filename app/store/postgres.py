"""The job store on PostgreSQL, shared by every node of a deployment.

The SQL is the engines' shared `SqlStore`; this module runs it. Each call's `work(db)` closure
runs on a connection of a psycopg pool, in one transaction, on a thread of the store's own
executor (as many threads as connections). The closures are synchronous because SQLite's lane
runs them inside its group commit; running them on threads keeps one SQL for both engines, and
costs a thread hand-over per call (tens of microseconds) next to the network round trips of a
PostgreSQL transaction, which a thread overlaps with other calls: the event loop never waits
for the database. Transactions are READ COMMITTED; a deadlock or serialisation failure is
retried a few times (the closures only read and write the database, so running one again is
safe).

A database that cannot be reached (down, restarting, refusing connections, no connection free
within the pool's wait) makes the call raise `StoreUnavailable`, which the intake answers with
503 `store_unavailable`. The pool checks each connection before lending it and opens new ones
by itself, so the same store works again once PostgreSQL is back.

The intake's calls share commits (`_run_shared`): a commit waits for PostgreSQL to flush its
log, so one transaction per delivery would hold the intake to the disk's flush rate. Calls that
arrive while earlier ones are in flight wait and then go together in one transaction; a call
that fails there rolls the group back, and the group runs again with each call in a savepoint,
so one bad call fails alone (the same promise as SQLite's lane, app/store/lane.py).

Notifications: a transaction that made a job leasable sends NOTIFY fixwright_jobs, one that
appended to a job's log NOTIFY fixwright_events ("<job id> <seq>"); PostgreSQL delivers them on
commit to every node. One LISTEN connection per store (opened by the first `watch_*` call)
calls the listeners on the event loop, and calls the job listeners once after each
(re)connection, since a notice sent while it was away is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from app.store.dialect import POSTGRESQL, Db
from app.store.migrations import apply_pending
from app.store.model import StoreUnavailable
from app.store.sql import EVENTS_CHANNEL, JOBS_CHANNEL, SqlStore

T = TypeVar("T")

DEFAULT_POOL_SIZE = 10
# How long a call waits for a connection (a free one, or a new one while PostgreSQL restarts)
# before it fails with StoreUnavailable: the intake answers 503 rather than hold the sender.
POOL_WAIT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5
# A transaction that lost a deadlock or a serialisation conflict runs again this many times.
RETRIES = 3
# The LISTEN connection waits this long (doubling up to the longest) between reconnections.
FIRST_LISTEN_RETRY_SECONDS = 0.2
LONGEST_LISTEN_RETRY_SECONDS = 5.0

# Groups of intake calls in flight at once, and the most calls one group commits.
GROUP_FLUSHERS = 2
GROUP_LIMIT = 64

RETRIED = (errors.DeadlockDetected, errors.SerializationFailure)
UNREACHABLE = (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError)

# A call's result, or what it raised.
Outcome = tuple[Any, BaseException | None]
# `?` outside quoted literals, and every `%`, which psycopg would read as placeholders.
TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The store's `?` SQL in psycopg's placeholders (`%s`, a literal `%` doubled)."""

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        if found == "?":
            return "%s"
        return found.replace("%", "%%")  # a `%`, or a literal whose `?` stay as they are

    return TOKENS.sub(swap, sql)


class PgDb:
    """A psycopg connection as the per-table modules use a `db`: `execute(sql, params)` with
    `?` placeholders, returning a cursor."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Iterable[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._connection.execute(translate(sql), tuple(parameters))


def unavailable(error: Exception) -> StoreUnavailable:
    failure = StoreUnavailable(f"the job store could not be reached: {error}")
    failure.__cause__ = error
    return failure


def connect(url: str) -> psycopg.Connection[Any]:
    """One connection outside the pool (migrations, `fixwright migrate`)."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as error:
        raise unavailable(error) from error


def migrate_postgres(url: str) -> tuple[int, int]:
    """Apply the pending migrations in one transaction; (version before, version after)."""
    with connect(url) as connection, connection.transaction():
        return apply_pending(PgDb(connection), POSTGRESQL)


class PostgresStore(SqlStore):
    """The Store on a PostgreSQL database, safe to share between processes and hosts."""

    dialect = POSTGRESQL

    def __init__(
        self,
        url: str,
        *,
        max_attempts: int = 2,
        clock: Callable[[], float] = time.time,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        super().__init__(max_attempts=max_attempts, clock=clock)
        self._url = url
        migrate_postgres(url)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            timeout=POOL_WAIT_SECONDS,
            check=ConnectionPool.check_connection,
            name="fixwright-store",
            open=False,
        )
        self._pool.open(wait=False)
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix="fixwright-store")
        self._listening: asyncio.Task[None] | None = None
        self._closed = False
        self._waiting: list[tuple[Callable[[Db], Any], asyncio.Future[Any]]] = []
        self._flushers: set[asyncio.Task[None]] = set()

    async def _run(self, work: Callable[[Db], T]) -> T:
        """Run `work` in a transaction on a pooled connection; committed when this returns."""
        if self._closed:
            raise StoreUnavailable("the job store is closed")
        self._listen_if_watched()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)

    def _transaction(self, work: Callable[[Db], T]) -> T:
        for attempt in range(RETRIES + 1):
            try:
                with self._pool.connection() as connection, connection.transaction():
                    return work(PgDb(connection))
            except RETRIED as error:
                if attempt == RETRIES:
                    raise unavailable(error) from error
            except UNREACHABLE as error:
                raise unavailable(error) from error
        raise AssertionError("unreachable")

    async def _run_shared(self, work: Callable[[Db], T]) -> T:
        """`_run(work)`, committed together with the intake calls waiting beside it."""
        if self._closed:
            raise StoreUnavailable("the job store is closed")
        self._listen_if_watched()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((work, future))
        if len(self._flushers) < GROUP_FLUSHERS:
            flusher = loop.create_task(self._flush())
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            group = self._waiting[:GROUP_LIMIT]
            del self._waiting[:GROUP_LIMIT]
            works = [work for work, _ in group]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._group, works)
            except Exception as failure:  # every caller hears it; none is left waiting
                outcomes = [(None, unavailable(failure))] * len(works)
            for (_, future), (result, error) in zip(group, outcomes, strict=True):
                if future.done():  # its caller gave up waiting
                    continue
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)

    def _group(self, works: list[Callable[[Db], Any]]) -> list[Outcome]:
        """Run `works` in one transaction (each in a savepoint once one of them fails)."""
        for attempt in range(RETRIES + 1):
            try:
                with self._pool.connection() as connection:
                    outcomes = self._together(connection, works)
                    return outcomes or self._each_in_savepoint(connection, works)
            except RETRIED as error:
                if attempt == RETRIES:
                    return [(None, unavailable(error))] * len(works)
            except UNREACHABLE as error:
                return [(None, unavailable(error))] * len(works)
        raise AssertionError("unreachable")

    def _together(
        self, connection: psycopg.Connection[Any], works: list[Callable[[Db], Any]]
    ) -> list[Outcome] | None:
        """The outcomes, committed; None when a call raised (and all was rolled back)."""
        db = PgDb(connection)
        try:
            with connection.transaction():
                return [(work(db), None) for work in works]
        except (*RETRIED, *UNREACHABLE):
            raise
        except Exception:  # one call failed: found and told alone below
            return None

    def _each_in_savepoint(
        self, connection: psycopg.Connection[Any], works: list[Callable[[Db], Any]]
    ) -> list[Outcome]:
        db = PgDb(connection)
        outcomes: list[Outcome] = []
        with connection.transaction():
            for work in works:
                try:
                    with connection.transaction():  # a savepoint
                        outcomes.append((work(db), None))
                except (*RETRIED, *UNREACHABLE):
                    raise
                except Exception as error:  # told to its own caller
                    outcomes.append((None, error))
        return outcomes

    def watch_jobs(self, listener: Callable[[], None]) -> None:
        super().watch_jobs(listener)
        self._listen_if_watched()

    def watch_events(self, listener: Callable[[str, int], None]) -> None:
        super().watch_events(listener)
        self._listen_if_watched()

    def _listen_if_watched(self) -> None:
        """Start the LISTEN task once something watches (and a loop runs to call it on)."""
        if self._listening is not None or self._closed:
            return
        if not (self._job_listeners or self._event_listeners):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # started by the first call made on a loop
        self._listening = loop.create_task(self._listen(), name="fixwright-store-listen")

    async def _listen(self) -> None:
        log = structlog.get_logger("fixwright")
        delay = FIRST_LISTEN_RETRY_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                ) as connection:
                    await connection.execute(f"LISTEN {JOBS_CHANNEL}")
                    await connection.execute(f"LISTEN {EVENTS_CHANNEL}")
                    delay = FIRST_LISTEN_RETRY_SECONDS
                    self._wake_jobs()  # what was queued while nobody listened
                    async for notice in connection.notifies():
                        self._dispatch(notice.channel, notice.payload)
            except asyncio.CancelledError:
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                log.warning("store.listen_lost", error=str(error), retry_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LONGEST_LISTEN_RETRY_SECONDS)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == JOBS_CHANNEL:
            self._wake_jobs()
        elif channel == EVENTS_CHANNEL:
            job_id, _, seq = payload.rpartition(" ")
            with contextlib.suppress(ValueError):
                self._wake_events(job_id, int(seq))

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        self._closed = True
        while self._flushers:  # the intake calls already taken are answered first
            await asyncio.gather(*self._flushers, return_exceptions=True)
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        await asyncio.to_thread(self._pool.close)
        self._executor.shutdown(wait=False)
