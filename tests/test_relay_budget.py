"""The relay's budgets as plain objects: reservations, places in flight, pools of several jobs."""

from __future__ import annotations

from sandbox.relay_budget import (
    BUDGET_IN_FLIGHT,
    BUDGET_SPENT,
    DAY_BUDGET_SPENT,
    TOO_MANY_IN_FLIGHT,
    Ledger,
    NoRoom,
    PoolShare,
    Reservation,
)
from sandbox.usage import JobUsage

# An answer as the model API reports it: 100 in, 20 out, 30 cache writes, 50 cache reads.
ANSWER = JobUsage(100, 20, 30, 50)  # 155 tokens against a budget (cache reads count a tenth)


def reserved(ledger: Ledger, job_id: str, tokens: int) -> Reservation:
    job = ledger.job(job_id)
    assert job is not None
    reservation = ledger.reserve(job, tokens)
    assert isinstance(reservation, Reservation), reservation
    return reservation


def no_room(ledger: Ledger, job_id: str, tokens: int) -> NoRoom:
    job = ledger.job(job_id)
    assert job is not None
    refusal = ledger.reserve(job, tokens)
    assert isinstance(refusal, NoRoom), refusal
    return refusal


def test_a_whole_answer_releases_what_it_did_not_write() -> None:
    """The reservation holds max_tokens until the answer ends; then only the usage counts."""
    ledger = Ledger()
    ledger.open("job", budget=2_000)
    first = reserved(ledger, "job", 1_500)
    assert no_room(ledger, "job", 1_000).reason == BUDGET_IN_FLIGHT  # 500 free while it runs
    ledger.count(first, ANSWER)
    assert ledger.settle(first, complete=True) == 0
    reserved(ledger, "job", 1_800)  # 2,000 - 155 left
    assert ledger.usage("job") == ANSWER


def test_a_cut_answer_is_charged_its_whole_reservation() -> None:
    """An answer that never ended is charged as if it wrote all its max_tokens, once."""
    ledger = Ledger()
    ledger.open("job", budget=10_000)
    cut = reserved(ledger, "job", 4_000)
    ledger.count(cut, JobUsage(input_tokens=100, output_tokens=1))  # message_start only
    assert ledger.settle(cut, complete=False) == 3_999
    assert ledger.settle(cut, complete=False) == 0
    assert ledger.usage("job") == JobUsage(input_tokens=100, output_tokens=4_000)


def test_closing_a_job_charges_what_is_still_in_flight() -> None:
    """A job closed under a running answer pays its reservation; the answer's end changes nothing."""
    ledger = Ledger()
    ledger.open("job", budget=10_000)
    running = reserved(ledger, "job", 3_000)
    ledger.count(running, JobUsage(output_tokens=500))
    assert ledger.close("job") == JobUsage(output_tokens=3_000)
    ledger.count(running, JobUsage(output_tokens=9_999))
    assert ledger.settle(running, complete=True) == 0
    assert running.job.usage == JobUsage(output_tokens=3_000)


def test_a_reservation_over_the_budget_is_final_and_one_held_by_others_is_not() -> None:
    """Over what is left: 400, never to pass. Over what the others in flight leave: 429, retry."""
    ledger = Ledger()
    ledger.open("job", budget=1_000)
    spent_too_much = no_room(ledger, "job", 1_001)
    assert (spent_too_much.reason, spent_too_much.status) == (BUDGET_SPENT, 400)
    assert "budget of 1,000 tokens cannot cover this request's max_tokens of 1,001" in (
        spent_too_much.message
    )
    reserved(ledger, "job", 600)
    later = no_room(ledger, "job", 600)
    assert (later.reason, later.status, later.retry) == (BUDGET_IN_FLIGHT, 429, True)


def test_a_spent_budget_refuses_even_a_request_that_reserves_nothing() -> None:
    ledger = Ledger()
    ledger.open("job", budget=100)
    first = reserved(ledger, "job", 100)
    ledger.count(first, ANSWER)
    ledger.settle(first, complete=True)
    refusal = no_room(ledger, "job", 0)
    assert (refusal.reason, refusal.status) == (BUDGET_SPENT, 400)
    assert "token budget of 100 tokens is spent" in refusal.message


def test_places_in_flight_are_limited_per_job() -> None:
    """The third request at once gets a 429; a place freed is taken again; other jobs are apart."""
    ledger = Ledger(max_in_flight=2)
    job = ledger.open("job", budget=10_000)
    other = ledger.open("other", budget=10_000)
    assert ledger.enter(job) is None and ledger.enter(job) is None
    third = ledger.enter(job)
    assert third is not None and (third.reason, third.status) == (TOO_MANY_IN_FLIGHT, 429)
    assert ledger.enter(other) is None
    ledger.leave(job)
    assert ledger.enter(job) is None


def test_jobs_in_one_pool_cannot_together_spend_more_than_it_has() -> None:
    """Two jobs, each with room of its own, share the day's 2,000 tokens: reservations included."""
    ledger = Ledger()
    ledger.open("a", budget=10_000, pool=PoolShare("installation-1", 2_000))
    ledger.open("b", budget=10_000, pool=PoolShare("installation-1", 2_000))
    running = reserved(ledger, "a", 1_500)
    assert no_room(ledger, "b", 1_000).reason == BUDGET_IN_FLIGHT
    ledger.count(running, JobUsage(output_tokens=1_500))
    ledger.settle(running, complete=True)
    refusal = no_room(ledger, "b", 1_000)  # 500 left today
    assert (refusal.reason, refusal.status) == (DAY_BUDGET_SPENT, 400)
    assert "token budget left for today (500 tokens)" in refusal.message
    reserved(ledger, "b", 500)


def test_a_pool_only_goes_down_while_it_has_jobs_and_is_dropped_after_the_last() -> None:
    """A join takes the least figure it is told; a close takes off what the job spent."""
    ledger = Ledger()
    ledger.open("a", budget=10_000, pool=PoolShare("day", 5_000))
    spent = reserved(ledger, "a", 1_000)
    ledger.count(spent, JobUsage(output_tokens=1_000))
    ledger.settle(spent, complete=True)
    ledger.close("a")  # the store has not recorded a's 1,000 yet: the pool has
    ledger.open("b", budget=10_000, pool=PoolShare("day", 8_000))  # a stale, larger figure
    ledger.open("c", budget=10_000, pool=PoolShare("day", 3_000))  # another process spent some
    assert no_room(ledger, "b", 3_001).reason == DAY_BUDGET_SPENT
    reserved(ledger, "b", 3_000)
    ledger.close("b")
    ledger.close("c")
    # With no job left the pool is gone: the next job starts from the store's figure again.
    ledger.open("d", budget=10_000, pool=PoolShare("day", 9_000))
    reserved(ledger, "d", 9_000)


def test_jobs_of_other_pools_and_without_one_do_not_share() -> None:
    ledger = Ledger()
    ledger.open("a", budget=10_000, pool=PoolShare("installation-1", 1_000))
    ledger.open("b", budget=10_000, pool=PoolShare("installation-2", 1_000))
    ledger.open("c", budget=10_000)
    reserved(ledger, "a", 1_000)
    reserved(ledger, "b", 1_000)
    reserved(ledger, "c", 10_000)


def test_reopening_a_job_starts_it_afresh_and_settles_its_pool() -> None:
    """A job opened again (a new attempt) counts from zero; its first opening's spend stays spent."""
    ledger = Ledger()
    ledger.open("job", budget=1_000, pool=PoolShare("day", 1_500))
    first = reserved(ledger, "job", 1_000)
    ledger.count(first, JobUsage(output_tokens=1_000))
    ledger.open("job", budget=1_000, pool=PoolShare("day", 1_500))
    assert ledger.usage("job") == JobUsage()
    assert no_room(ledger, "job", 501).reason == DAY_BUDGET_SPENT
