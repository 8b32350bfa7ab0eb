"""How a run ended, named from the evidence: pure rules, no container needed."""

from __future__ import annotations

from sandbox.pids import PidsWatch, refused_forks
from sandbox.runner import Outcome, classify, reason_to_stop
from sandbox.stream import FinalResult, Unknown


def final(subtype: str = "success", is_error: bool = False, result: str = "", status=None):
    return FinalResult(subtype, is_error, 2, 1000, 0.01, {}, result, status)


def outcome(final_result, **evidence) -> Outcome:
    facts = {"stopped": None, "oom_killed": False, "exit_code": 0, "budget_exhausted": False}
    return classify(final_result, **{**facts, **evidence})


def test_each_ending_has_its_own_outcome() -> None:
    """Success, max turns, timeout, OOM, each model error and a crash are all told apart."""
    assert outcome(final()) is Outcome.SUCCESS
    assert outcome(final("error_max_turns", True)) is Outcome.MAX_TURNS
    assert outcome(None, stopped=Outcome.TIMEOUT, exit_code=137) is Outcome.TIMEOUT
    assert outcome(None, oom_killed=True, exit_code=137) is Outcome.OUT_OF_MEMORY
    assert outcome(final("success", True, "API Error: 401", 401)) is Outcome.MODEL_AUTHENTICATION
    assert outcome(final("success", True, "API Error: 529 Overloaded", 529)) is (
        Outcome.MODEL_OVERLOADED
    )
    assert outcome(final("success", True, "token budget of 5 tokens is spent", 400)) is (
        Outcome.MODEL_BUDGET
    )
    assert outcome(final("success", True, "API Error: 500", 500)) is Outcome.MODEL_ERROR
    assert outcome(None, exit_code=134) is Outcome.CLI_CRASH


def test_a_spent_budget_explains_a_silent_end() -> None:
    """No final result but a spent budget means the relay cut the job off, not a crash."""
    assert outcome(None, budget_exhausted=True, exit_code=1) is Outcome.MODEL_BUDGET


def test_memory_kill_outranks_a_final_result() -> None:
    """When the kernel killed something for memory, the run is reported as out of memory."""
    assert outcome(final(), oom_killed=True) is Outcome.OUT_OF_MEMORY


def test_a_refused_key_stops_the_run_at_the_first_retry() -> None:
    """The CLI retries a 401 for minutes; the runner stops at the first such retry."""
    retry = {"type": "system", "subtype": "api_retry", "attempt": 1, "error_status": 401}
    assert reason_to_stop(Unknown(retry)) is Outcome.MODEL_AUTHENTICATION
    assert reason_to_stop(Unknown({**retry, "error_status": 529})) is None


def test_refused_forks_make_the_run_a_pids_limit() -> None:
    """A run during which the kernel refused forks at the pids limit is reported as such."""
    assert refused_forks("max 0\n") == 0
    assert refused_forks("max 17\n") == 17
    assert (
        classify(
            None,
            stopped=None,
            oom_killed=False,
            exit_code=0,
            budget_exhausted=False,
            refused_forks=3,
        )
        is Outcome.PIDS_LIMIT
    )


def test_a_sample_keeps_the_count_after_the_cgroup_is_gone(tmp_path) -> None:
    """A burst read while the container runs is still reported once its cgroup has been removed."""
    cgroup = tmp_path / "docker" / "abc123"
    cgroup.mkdir(parents=True)
    watch = PidsWatch("abc123", root=tmp_path)
    (cgroup / "pids.events").write_text("max 0\n")
    assert watch.sample() is True
    (cgroup / "pids.events").write_text("max 41\n")
    assert watch.sample() is True
    (cgroup / "pids.events").unlink()
    cgroup.rmdir()
    assert watch.sample() is False
    assert watch.stop() == 41
