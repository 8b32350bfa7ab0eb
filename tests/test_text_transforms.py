"""Text someone else wrote cannot stall fixwright: every transform finishes on 1 MB built to be slow."""

from __future__ import annotations

import multiprocessing

import pytest

from tests.adversarial_text import BY_NAME, CASES, MEGABYTE

# Generous: each case takes well under a second; a quadratic pattern takes hours on 1 MB.
DEADLINE_SECONDS = 30.0


def transform_adversarial_text(name: str) -> None:
    """Run one case's transform on its adversarial megabyte (in a process of its own)."""
    case = BY_NAME[name]
    case.transform(case.adversarial(MEGABYTE))


def finishes_in_time(name: str) -> bool:
    """Whether the case's transform returns before the deadline.

    It runs in a process, not a thread: a regular expression holds the GIL until it returns, so a
    thread stuck in one cannot be waited for with a deadline, only a process can be stopped.
    """
    process = multiprocessing.get_context("spawn").Process(
        target=transform_adversarial_text, args=(name,), daemon=True
    )
    process.start()
    process.join(DEADLINE_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()
        return False
    assert process.exitcode == 0, f"{name}: the transform raised (exit code {process.exitcode})"
    return True


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_a_megabyte_of_adversarial_text_is_transformed_before_the_deadline(name: str) -> None:
    """The transform gets through 1 MB of text built against its patterns instead of hanging."""
    assert finishes_in_time(name), f"{name}: still running after {DEADLINE_SECONDS:.0f} s"
