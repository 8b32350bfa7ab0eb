"""What a test run printed, read as untrusted text: a bounded tail, and the counts in the summary
lines the common runners print (pytest, unittest, jest, cargo, go). Pure, and linear in the output.

Nothing here trusts the output's size or shape: lines longer than `SUMMARY_LINE_LIMIT` are no
runner's summary and are never matched, the tail keeps a fixed number of bytes, and every pattern
is anchored and free of nested repetition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sandbox.redaction import redact_text

TAIL_BYTES = 16 * 1024  # what is kept of the output's end, for the thread and for Claude
SUMMARY_LINE_LIMIT = 4096  # no runner's summary line is longer
STDOUT, STDERR = 1, 2
# A terminal's escape sequences: CSI (colours, cursor moves) and OSC (titles, hyperlinks). The
# classes of each part do not overlap, so a match never backtracks.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
COUNT = re.compile(r"(\d{1,9}) ([a-z][a-z ]{0,20})")
# The shortest piece of a multi-line secret (a PEM key's lines) redacted on its own, so a tail cut
# through the key shows none of it.
SECRET_PIECE_CHARACTERS = 16


class TestStatus(StrEnum):
    """How a test run ended."""

    __test__ = False  # not a test class, whatever its name says

    PASSED = "passed"  # the command exited 0
    FAILED = "failed"  # it exited with another code
    TIMED_OUT = "timed_out"  # it was stopped at its time limit
    ERROR = "error"  # it could not run to its end: no image, out of memory, the disk limit


@dataclass(frozen=True)
class TestCounts:
    """The counts a runner's summary gave; `unit` is what was counted (go counts packages)."""

    __test__ = False

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    unit: str = "tests"

    def describe(self) -> str:
        """`2 failed, 10 passed`, `1 error`, `3 packages passed`; `no tests ran` when all are 0."""
        parts = [
            f"{self._amount(self.failed)} failed" if self.failed else "",
            f"{self.errors} error{'' if self.errors == 1 else 's'}" if self.errors else "",
            f"{self._amount(self.passed)} passed" if self.passed else "",
            f"{self.skipped} skipped" if self.skipped else "",
        ]
        return ", ".join(part for part in parts if part) or f"no {self.unit} ran"

    def _amount(self, count: int) -> str:
        if self.unit == "tests":
            return str(count)
        return f"{count} {self.unit.removesuffix('s') if count == 1 else self.unit}"


@dataclass(frozen=True)
class TestRun:
    """One run of the test command: how it ended, what it counted, the end of what it printed."""

    __test__ = False

    status: TestStatus
    exit_code: int | None = None
    seconds: float = 0.0
    counts: TestCounts | None = None
    tail: str = ""  # the output's end: escape sequences and control characters out, redacted
    output_bytes: int = 0
    problem: str = ""  # why it could not run to its end, in words

    @property
    def passed(self) -> bool:
        return self.status is TestStatus.PASSED

    def describe(self) -> str:
        """The run in a few words: its counts, else how it ended."""
        if self.status is TestStatus.TIMED_OUT:
            return "timed out" + (f" ({self.counts.describe()} so far)" if self.counts else "")
        if self.status is TestStatus.ERROR:
            return "could not run" + (f": {self.problem}" if self.problem else "")
        if self.counts is not None:
            return self.counts.describe()
        if self.status is TestStatus.PASSED:
            return "passed"
        return f"failed (exit code {self.exit_code})"


def clean_output(text: str) -> str:
    """Terminal escape sequences and control characters (but newlines and tabs) taken out."""
    return CONTROL.sub("", ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def secret_pieces(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """The secrets, and the long lines of those that span several (a private key's), longest first."""
    pieces = {secret for secret in secrets if secret}
    for secret in secrets:
        if "\n" in secret:
            pieces.update(
                line.strip()
                for line in secret.splitlines()
                if len(line.strip()) >= SECRET_PIECE_CHARACTERS
            )
    return tuple(sorted(pieces, key=len, reverse=True))


class _Lines:
    """One stream cut into lines of at most `SUMMARY_LINE_LIMIT` bytes; longer ones are skipped."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._overlong = False

    def feed(self, data: bytes) -> list[bytes]:
        *complete, rest = data.split(b"\n")
        lines = []
        for part in complete:
            if not self._overlong and len(self._pending) + len(part) <= SUMMARY_LINE_LIMIT:
                lines.append(bytes(self._pending + part))
            self._pending.clear()
            self._overlong = False
        if not self._overlong:
            if len(self._pending) + len(rest) > SUMMARY_LINE_LIMIT:
                self._overlong = True
                self._pending.clear()
            else:
                self._pending += rest
        return lines

    def rest(self) -> list[bytes]:
        return [] if self._overlong or not self._pending else [bytes(self._pending)]


@dataclass
class _Summaries:
    """The summary lines seen so far, by runner: the last one of each, or the sum where a runner
    prints one per part (cargo per test binary, go per package)."""

    pytest: TestCounts | None = None
    jest: TestCounts | None = None
    unittest: TestCounts | None = None
    unittest_ran: int | None = None
    cargo: TestCounts | None = None
    go: TestCounts | None = None

    def read(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        found = (
            _pytest(line)
            if line.endswith(("s", "=", ")"))
            else None  # every pytest summary ends in its duration, its `=` rule, or `(h:mm:ss)`
        )
        if found is not None:
            self.pytest = found
            return
        if line.startswith("Tests:"):
            self.jest = _jest(line) or self.jest
        elif line.startswith("Ran ") and " in " in line:
            self.unittest_ran = _unittest_ran(line)
        elif self.unittest_ran is not None and line.startswith(("OK", "FAILED (")):
            self.unittest = _unittest(self.unittest_ran, line)
            self.unittest_ran = None
        elif line.startswith("test result: "):
            self.cargo = _plus(self.cargo, _cargo(line))
        else:
            self.go = _plus(self.go, _go(line))

    def counts(self) -> TestCounts | None:
        return self.pytest or self.jest or self.unittest or self.cargo or self.go


def _plus(total: TestCounts | None, more: TestCounts | None) -> TestCounts | None:
    if more is None:
        return total
    if total is None:
        return more
    return replace(
        total,
        passed=total.passed + more.passed,
        failed=total.failed + more.failed,
        errors=total.errors + more.errors,
        skipped=total.skipped + more.skipped,
    )


def _counted(text: str, separator: str) -> dict[str, int] | None:
    """`2 failed, 10 passed` as {"failed": 2, "passed": 10}; None unless every part is a count."""
    counted: dict[str, int] = {}
    for part in text.split(separator):
        found = COUNT.fullmatch(part.strip())
        if found is None:
            return None
        counted[found[2]] = counted.get(found[2], 0) + int(found[1])
    return counted


PYTEST_WORDS = frozenset(
    {
        "passed",
        "failed",
        "error",
        "errors",
        "skipped",
        "xfailed",
        "xpassed",
        "deselected",
        "warning",
        "warnings",
        "rerun",
        "reruns",
    }
)


def _pytest(line: str) -> TestCounts | None:
    """`===== 2 failed, 10 passed, 1 warning in 0.12s =====`, or `-q`'s line without the rules."""
    text = line.strip("= ")
    if text.startswith("no tests ran in "):
        return TestCounts()
    head, found, duration = text.rpartition(" in ")
    if not found or not duration[:1].isdigit() or "s" not in duration:
        return None
    counted = _counted(head, ", ")
    if not counted or not counted.keys() <= PYTEST_WORDS:
        return None
    return TestCounts(
        passed=counted.get("passed", 0) + counted.get("xpassed", 0),
        failed=counted.get("failed", 0),
        errors=counted.get("error", 0) + counted.get("errors", 0),
        skipped=counted.get("skipped", 0) + counted.get("xfailed", 0),
    )


def _jest(line: str) -> TestCounts | None:
    """`Tests:       1 failed, 2 passed, 3 total`."""
    counted = _counted(line.removeprefix("Tests:"), ", ")
    if not counted or "total" not in counted:
        return None
    return TestCounts(
        passed=counted.get("passed", 0),
        failed=counted.get("failed", 0),
        skipped=counted.get("skipped", 0) + counted.get("todo", 0) + counted.get("pending", 0),
    )


def _unittest_ran(line: str) -> int | None:
    """`Ran 12 tests in 0.003s`."""
    found = re.fullmatch(r"Ran (\d{1,9}) tests? in [\d.]{1,20}s", line)
    return int(found[1]) if found else None


def _unittest(ran: int, line: str) -> TestCounts:
    """`OK`, `OK (skipped=1)` or `FAILED (failures=1, errors=2, skipped=3)` after `Ran N tests`."""
    details: dict[str, int] = {}
    inside = line.partition("(")[2].rstrip(")")
    for part in inside.split(", ") if inside else ():
        name, _, number = part.partition("=")
        if number.isdigit() and len(number) <= 9:
            details[name.strip()] = int(number)
    failed, errors, skipped = (details.get(k, 0) for k in ("failures", "errors", "skipped"))
    unexpected = details.get("unexpected successes", 0)
    return TestCounts(
        passed=max(ran - failed - errors - skipped - unexpected, 0),
        failed=failed + unexpected,
        errors=errors,
        skipped=skipped,
    )


def _cargo(line: str) -> TestCounts | None:
    """`test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; ...`."""
    _, found, rest = line.partition(". ")
    if not found:
        return None
    counted = _counted(rest.partition("; finished")[0], "; ")
    if not counted or "passed" not in counted:
        return None
    return TestCounts(
        passed=counted.get("passed", 0),
        failed=counted.get("failed", 0),
        skipped=counted.get("ignored", 0),
    )


def _go(line: str) -> TestCounts | None:
    """A package's line of `go test`: `ok  \\tpkg\\t0.01s`, `FAIL\\tpkg ...`, `?   \\tpkg\\t[no test files]`."""
    word, tab, rest = line.partition("\t")
    if not tab or not rest.strip():
        return None
    word = word.strip()
    if word == "ok":
        return TestCounts(passed=1, unit="packages")
    if word == "FAIL":
        return TestCounts(failed=1, unit="packages")
    if word == "?" and rest.endswith("[no test files]"):
        return TestCounts(skipped=1, unit="packages")
    return None


def _from_line_start(text: str) -> str:
    """The text after its first newline (its first line may be a piece), unless that is all."""
    _, newline, after = text.partition("\n")
    return after if newline and after else text


@dataclass
class OutputReader:
    """Reads a test run's stdout and stderr as they arrive: the tail kept, the summaries counted."""

    secrets: tuple[str, ...] = ()
    total_bytes: int = 0
    _tail: bytearray = field(default_factory=bytearray)
    _lines: dict[int, _Lines] = field(default_factory=dict)
    _summaries: _Summaries = field(default_factory=_Summaries)

    def feed(self, stream: int, data: bytes) -> None:
        """One piece of output from `stream` (STDOUT or STDERR)."""
        self.total_bytes += len(data)
        # Twice the tail is kept raw, so a secret cut by the window is redacted before the cut.
        self._tail += data[-2 * TAIL_BYTES :]
        if len(self._tail) > 4 * TAIL_BYTES:
            del self._tail[: len(self._tail) - 2 * TAIL_BYTES]
        lines = self._lines.setdefault(stream, _Lines())
        for line in lines.feed(data):
            self._summaries.read(clean_output(line.decode("utf-8", "replace")))

    def counts(self) -> TestCounts | None:
        """The counts of the summaries read so far, each stream's unfinished last line included."""
        summaries = replace(self._summaries)
        for lines in self._lines.values():
            for line in lines.rest():
                summaries.read(clean_output(line.decode("utf-8", "replace")))
        return summaries.counts()

    def tail(self) -> str:
        """The output's end, cleaned and redacted before it is cut, from a line's start when cut."""
        window = bytes(self._tail[-2 * TAIL_BYTES :])
        text = clean_output(window.decode("utf-8", "replace"))
        text = redact_text(text, secret_pieces(self.secrets))
        if len(window) < self.total_bytes:
            text = _from_line_start(text)
        if len(text) > TAIL_BYTES:
            text = _from_line_start(text[-TAIL_BYTES:])
        return text

    def run(
        self,
        status: TestStatus,
        *,
        exit_code: int | None,
        seconds: float,
        problem: str = "",
    ) -> TestRun:
        """The run as it ended, with what the output showed."""
        return TestRun(
            status=status,
            exit_code=exit_code,
            seconds=seconds,
            counts=self.counts(),
            tail=self.tail(),
            output_bytes=self.total_bytes,
            problem=problem,
        )
