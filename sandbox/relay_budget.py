"""The relay's token budgets, free of I/O: what each job and each shared pool has spent, what its
requests in flight hold, and whether one more request may start.

A request reserves its `max_tokens` before it is sent; the output counted as it streams uses the
reservation up, the end of the answer releases what is left, and an answer that never ends (the
stream cut, the client gone, the upstream failing mid-way) is charged all of it. Jobs that draw
on one budget at once in this process may share a pool: it learns what is left when each job
opens, keeps the least it has been told, and takes off what each job spent when it closes.
An installation's day is not shared here: the service reserves each run's share of it in the
shared store before the run starts (app/quota_usage.py), so runs on every node together keep to
it, and the run's own budget is that share.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sandbox.usage import JobUsage

DEFAULT_MAX_IN_FLIGHT = 2
# Seconds the CLI is asked to wait before it tries a request again that found no room.
RETRY_AFTER_SECONDS = 1

# Why a request found no room: values of the `reason` label of fixwright_relay_refusals_total.
BUDGET_SPENT = "budget_spent"
DAY_BUDGET_SPENT = "day_budget_spent"
BUDGET_IN_FLIGHT = "budget_in_flight"
TOO_MANY_IN_FLIGHT = "too_many_in_flight"


@dataclass(frozen=True)
class PoolShare:
    """A job's place in a budget other jobs draw on at the same time."""

    key: str  # opaque: jobs with the same key share the pool
    remaining: int  # tokens the pool has left as the job opens, not counting jobs still open


@dataclass(frozen=True)
class NoRoom:
    """Why a request may not start: final (400), or worth retrying shortly (429)."""

    reason: str
    status: int
    message: str

    @property
    def retry(self) -> bool:
        return self.status == 429


@dataclass(eq=False)
class JobBudget:
    """One open job: its budget, its pool, what it has used, and its requests in flight."""

    job_id: str
    budget: int
    pool_key: str | None
    usage: JobUsage = field(default_factory=JobUsage)
    entered: int = 0  # requests holding one of the job's places in flight
    reservations: list[Reservation] = field(default_factory=list)
    closed: bool = False

    def held(self) -> int:
        return sum(reservation.held for reservation in self.reservations)


@dataclass(eq=False)
class Reservation:
    """The output tokens one request in flight may still write."""

    job: JobBudget
    tokens: int
    output_seen: int = 0

    @property
    def held(self) -> int:
        return max(0, self.tokens - self.output_seen)


@dataclass
class _Pool:
    remaining: int
    jobs: list[JobBudget]


class Ledger:
    """The budgets of every open job and pool; safe to call from any thread."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self.max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._jobs: dict[str, JobBudget] = {}
        self._pools: dict[str, _Pool] = {}

    def open(self, job_id: str, budget: int, pool: PoolShare | None = None) -> JobBudget:
        """Start counting for `job_id` afresh (an earlier opening of it is closed first)."""
        with self._lock:
            earlier = self._jobs.get(job_id)
            job = JobBudget(job_id, budget, pool.key if pool else None)
            self._jobs[job_id] = job
            if pool is not None:
                shared = self._pools.get(pool.key)
                if shared is None:
                    self._pools[pool.key] = _Pool(pool.remaining, [job])
                else:
                    shared.remaining = min(shared.remaining, pool.remaining)
                    shared.jobs.append(job)
            if earlier is not None:
                self._close(earlier)  # after the join, so a pool they share is not dropped
            return job

    def close(self, job_id: str) -> JobUsage:
        """End the job: charge what its requests in flight reserved; return all it used."""
        with self._lock:
            job = self._jobs[job_id]
            self._close(job)
            return job.usage

    def job(self, job_id: str) -> JobBudget | None:
        with self._lock:
            return self._jobs.get(job_id)

    def usage(self, job_id: str) -> JobUsage:
        with self._lock:
            return self._jobs[job_id].usage

    def enter(self, job: JobBudget) -> NoRoom | None:
        """Take one of the job's places in flight, or say why there is none free."""
        with self._lock:
            if job.entered >= self.max_in_flight:
                return NoRoom(
                    TOO_MANY_IN_FLIGHT,
                    429,
                    f"fixwright: this job already has {job.entered} model requests in flight, "
                    "its most; try again when one has ended",
                )
            job.entered += 1
            return None

    def leave(self, job: JobBudget) -> None:
        with self._lock:
            job.entered = max(0, job.entered - 1)

    def reserve(self, job: JobBudget, tokens: int) -> Reservation | NoRoom:
        """Hold `tokens` of output against the job's budget and its pool's, or say why not."""
        with self._lock:
            no_room = self._job_room(job, tokens) or self._pool_room(job, tokens)
            if no_room is not None:
                return no_room
            reservation = Reservation(job, tokens)
            if not job.closed:
                job.reservations.append(reservation)
            return reservation

    def count(self, reservation: Reservation, growth: JobUsage) -> None:
        """Add what an answer newly reported to its job."""
        with self._lock:
            job = reservation.job
            if job.closed:
                return
            job.usage = job.usage + growth
            reservation.output_seen += growth.output_tokens

    def settle(self, reservation: Reservation, *, complete: bool) -> int:
        """The request is over: release what it did not use, or, if its answer was cut short,
        charge all of it. Returns the tokens charged that were not counted (once only)."""
        with self._lock:
            job = reservation.job
            if reservation not in job.reservations:
                return 0
            job.reservations.remove(reservation)
            return 0 if complete else self._charge(reservation)

    def _close(self, job: JobBudget) -> None:
        for reservation in job.reservations:
            self._charge(reservation)
        job.reservations.clear()
        job.closed = True
        if self._jobs.get(job.job_id) is job:
            del self._jobs[job.job_id]
        pool = self._pools.get(job.pool_key or "")
        if pool is not None and job in pool.jobs:
            pool.jobs.remove(job)
            pool.remaining -= job.usage.budgeted
            if not pool.jobs:
                del self._pools[job.pool_key or ""]

    def _charge(self, reservation: Reservation) -> int:
        """An answer that did not end is charged as if it had written all it reserved."""
        unspent = reservation.held
        reservation.job.usage = reservation.job.usage + JobUsage(output_tokens=unspent)
        reservation.output_seen += unspent
        return unspent

    def _job_room(self, job: JobBudget, tokens: int) -> NoRoom | None:
        left = job.budget - job.usage.budgeted
        if job.closed or left <= 0:
            return NoRoom(
                BUDGET_SPENT,
                400,
                f"fixwright: this job's token budget of {job.budget:,} tokens is spent",
            )
        if tokens > left:
            return NoRoom(
                BUDGET_SPENT,
                400,
                f"fixwright: this job's token budget of {job.budget:,} tokens cannot cover this "
                f"request's max_tokens of {tokens:,} ({left:,} left)",
            )
        if tokens and tokens > left - job.held():
            return _held_by_others()
        return None

    def _pool_room(self, job: JobBudget, tokens: int) -> NoRoom | None:
        pool = self._pools.get(job.pool_key or "")
        if pool is None:
            return None
        left = pool.remaining - sum(member.usage.budgeted for member in pool.jobs)
        if left <= 0 or tokens > left:
            return NoRoom(
                DAY_BUDGET_SPENT,
                400,
                f"fixwright: the token budget left for today ({max(left, 0):,} tokens) cannot "
                f"cover this request's max_tokens of {tokens:,}",
            )
        if tokens and tokens > left - sum(member.held() for member in pool.jobs):
            return _held_by_others()
        return None


def _held_by_others() -> NoRoom:
    return NoRoom(
        BUDGET_IN_FLIGHT,
        429,
        "fixwright: the token budget left is held by model requests in flight; "
        "try again when one has ended",
    )
