"""A test run's output read as untrusted text: the runners' summary lines counted, the tail kept
bounded, cleaned and redacted, whatever the output holds."""

from __future__ import annotations

import pytest

from sandbox.test_output import (
    STDERR,
    STDOUT,
    TAIL_BYTES,
    OutputReader,
    TestCounts,
    TestRun,
    TestStatus,
    clean_output,
)

PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
    "c2VjcmV0LWtleS1ib2R5LWxpbmUtdHdvLXdpdGgtZW5vdWdo\n-----END PRIVATE KEY-----\n"
)


def counts_of(output: str, stream: int = STDOUT) -> TestCounts | None:
    reader = OutputReader()
    reader.feed(stream, output.encode())
    return reader.counts()


@pytest.mark.parametrize(
    ("output", "counts"),
    [
        (
            "tests/test_a.py .F.\n==== 1 failed, 2 passed, 1 warning in 0.12s ====\n",
            TestCounts(passed=2, failed=1),
        ),
        ("..F\n2 failed, 10 passed, 3 skipped in 1.05s\n", TestCounts(10, 2, 0, 3)),
        ("E\n=== 1 error in 0.30s ===\n", TestCounts(errors=1)),
        ("==== no tests ran in 0.01s ====\n", TestCounts()),
        ("Ran 3 tests in 0.002s\n\nFAILED (failures=1, errors=1)\n", TestCounts(1, 1, 1, 0)),
        ("Ran 4 tests in 0.002s\n\nOK (skipped=1)\n", TestCounts(passed=3, skipped=1)),
        ("Tests:       1 failed, 2 passed, 3 total\n", TestCounts(passed=2, failed=1)),
        (
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; "
            "finished in 0.00s\ntest result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured;"
            " 0 filtered out; finished in 0.01s\n",
            TestCounts(passed=4, failed=2, skipped=1),
        ),
        (
            "--- FAIL: TestAdd (0.00s)\nFAIL\texample.com/calc\t0.01s\n"
            "ok  \texample.com/util\t(cached)\n?   \texample.com/cmd\t[no test files]\nFAIL\n",
            TestCounts(passed=1, failed=1, skipped=1, unit="packages"),
        ),
        ("Segmentation fault\n", None),
    ],
)
def test_each_runners_summary_is_counted(output: str, counts: TestCounts | None) -> None:
    """pytest (with or without its rules), unittest, jest, cargo (summed) and go (by package)."""
    assert counts_of(output) == counts


def test_the_last_pytest_summary_wins_and_jest_is_read_from_stderr() -> None:
    """A re-run's summary replaces the first; jest prints its summary on stderr."""
    assert counts_of("1 failed in 0.1s\n3 passed in 0.2s\n") == TestCounts(passed=3)
    assert counts_of("Tests: 2 passed, 2 total", STDERR) == TestCounts(passed=2)


def test_counts_are_described_in_words() -> None:
    """`2 failed, 10 passed`; packages by name and number; nothing as `no tests ran`."""
    assert TestCounts(passed=10, failed=2).describe() == "2 failed, 10 passed"
    assert TestCounts(errors=1, skipped=2).describe() == "1 error, 2 skipped"
    assert TestCounts(passed=1, failed=2, unit="packages").describe() == (
        "2 packages failed, 1 package passed"
    )
    assert TestCounts().describe() == "no tests ran"
    assert TestRun(TestStatus.FAILED, exit_code=2).describe() == "failed (exit code 2)"
    assert TestRun(TestStatus.ERROR, problem="no image").describe() == "could not run: no image"


def test_a_summary_cut_across_pieces_of_output_is_still_read() -> None:
    """Output arrives in pieces that split lines anywhere."""
    reader = OutputReader()
    for piece in ("==== 1 fai", "led, 2 pass", "ed in 0.1s ====\n"):
        reader.feed(STDOUT, piece.encode())
    assert reader.counts() == TestCounts(passed=2, failed=1)


def test_lines_past_the_limit_are_never_matched_and_the_tail_stays_bounded() -> None:
    """Megabytes without a newline, then a real summary: one bounded tail, the summary counted."""
    reader = OutputReader()
    reader.feed(STDOUT, b"1 failed in 0.1s" * 200_000)
    reader.feed(STDOUT, b"\n" + b"x" * 3_000_000 + b"\n5 passed in 0.3s\n")
    run = reader.run(TestStatus.PASSED, exit_code=0, seconds=1.0)
    assert run.counts == TestCounts(passed=5)
    assert len(run.tail) <= TAIL_BYTES and run.tail.endswith("5 passed in 0.3s\n")
    assert run.output_bytes > 6_000_000


def test_terminal_escapes_and_control_characters_are_taken_out() -> None:
    """Colours, hyperlinks and carriage returns never reach the tail or confuse the counts."""
    coloured = "\x1b[31m\x1b[1m1 failed\x1b[0m, \x1b[32m1 passed\x1b[0m in 0.1s\r\n"
    link = "\x1b]8;;https://example.test\x07click\x1b]8;;\x07\x00\x07\n"
    reader = OutputReader()
    reader.feed(STDOUT, (coloured + link).encode())
    run = reader.run(TestStatus.FAILED, exit_code=1, seconds=1.0)
    assert run.counts == TestCounts(passed=1, failed=1)
    assert run.tail == "1 failed, 1 passed in 0.1s\nclick\n"
    assert clean_output("a\rb\tc") == "a\nb\tc"


def test_secrets_are_redacted_before_the_tail_is_cut() -> None:
    """A configured secret and each line of a key are redacted even where the cut splits them."""
    reader = OutputReader(secrets=("s3cret-webhook-value", PEM))
    reader.feed(STDOUT, b"y" * (3 * TAIL_BYTES) + PEM.encode() + b"token s3cret-webhook-value\n")
    tail = reader.run(TestStatus.FAILED, exit_code=1, seconds=1.0).tail
    assert "s3cret" not in tail and "MIIEvQ" not in tail and "c2VjcmV0" not in tail
    assert tail.endswith("token [redacted]\n")

    cut = OutputReader(secrets=(PEM,))
    cut.feed(STDOUT, PEM.encode()[40:] + b"z" * (2 * TAIL_BYTES - 40))
    assert "c2VjcmV0" not in cut.tail() and "MIIEvQ" not in cut.tail()
