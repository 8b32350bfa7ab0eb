"""The job event log's vocabulary: what happened in a job as typed events, redacted and capped
before they are stored (no I/O).

One event is a kind and a JSON object. Readers (the task API's SSE stream, the live job page)
show them as they come; a stream ends after a terminal event. Everything in an event may have
been written by the agent or a repository, so every string is redacted with the service's secret
values and cut to its kind's length before the store sees it (`stored`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.redaction import redact_text
from sandbox.stream import AssistantText, StreamEvent, ToolResult, ToolUse
from sandbox.test_output import TestRun

STATUS = (
    "status"  # {"state": queued|running|awaiting_approval|succeeded|failed|cancelled, "summary"?}
)
TEXT = "text"  # {"text"}: Claude's words
TOOL_CALL = "tool_call"  # {"tool", "input": {"path"|"command"|"pattern"|...}}
TOOL_RESULT = "tool_result"  # {"content", "is_error"}
FILES = "files"  # {"files": [{"path", "additions", "deletions"}], "more"}
VERIFICATION = "verification"  # a test run, or the verdict over them
USAGE = "usage"  # {"model", "turns", "input_tokens", "output_tokens", "cost_usd", ...}
COMPLETED = "completed"  # {"summary"}
FAILED = "failed"  # {"reason", "next_step"?}
CANCELLED = "cancelled"  # {"reason"}
TERMINAL_KINDS = frozenset({COMPLETED, FAILED, CANCELLED})
TERMINAL_OF_STATE = {"succeeded": COMPLETED, "failed": FAILED, "cancelled": CANCELLED}

# The longest string each kind keeps (characters, after redaction); other kinds keep DEFAULT_LIMIT.
LIMITS = {TEXT: 8_000, TOOL_CALL: 300, TOOL_RESULT: 2_000, FILES: 500, USAGE: 200}
DEFAULT_LIMIT = 2_000
# Redaction reads this much past the limit, so a secret shorter than this that starts before the
# cut is replaced whole, never left half-shown; what lies beyond is never read.
REDACTION_SLACK = 16_384
MAX_FILES = 500
MAX_ITEMS = 100  # of any other list
MAX_DEPTH = 6
CUT = "…"

# Which field of a tool's input says what the call is about, by tool name.
INPUT_FIELDS = {
    "Read": ("file_path",),
    "Write": ("file_path",),
    "Edit": ("file_path",),
    "MultiEdit": ("file_path",),
    "NotebookEdit": ("notebook_path",),
    "Bash": ("command",),
    "Grep": ("pattern", "path", "glob"),
    "Glob": ("pattern", "path"),
    "LS": ("path",),
    "WebFetch": ("url",),
    "WebSearch": ("query",),
    "Task": ("description",),
}
FALLBACK_FIELDS = ("file_path", "path", "command", "pattern", "url", "description")
SHOWN_NAMES = {"file_path": "path", "notebook_path": "path"}


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its kind and data (raw until `stored` makes it safe)."""

    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class FileChange:
    """One changed file and its line counts (binary files count 0)."""

    path: str
    additions: int
    deletions: int


def status(state: str, summary: str = "") -> NewEvent:
    """The job's state changed."""
    return NewEvent(STATUS, {"state": state, **({"summary": summary} if summary else {})})


def text(words: str) -> NewEvent:
    return NewEvent(TEXT, {"text": words})


def tool_call(tool: ToolUse) -> NewEvent:
    """The call with its input summarised: the path, the command's first line, the pattern."""
    return NewEvent(TOOL_CALL, {"tool": tool.name, "input": summarised_input(tool)})


def tool_result(result: ToolResult) -> NewEvent:
    return NewEvent(TOOL_RESULT, {"content": result.content, "is_error": result.is_error})


def of_stream(event: StreamEvent) -> NewEvent | None:
    """The event a line of Claude Code's output makes, if any (its cost comes with `usage`)."""
    if isinstance(event, AssistantText):
        return text(event.text) if event.text.strip() else None
    if isinstance(event, ToolUse):
        return tool_call(event)
    if isinstance(event, ToolResult):
        return tool_result(event)
    return None


def summarised_input(tool: ToolUse) -> dict[str, str]:
    fields = INPUT_FIELDS.get(tool.name, FALLBACK_FIELDS)
    shown = {}
    for name in fields:
        value = tool.input.get(name)
        if isinstance(value, str) and value:
            first_line = value.strip().split("\n", 1)[0] if name == "command" else value
            shown[SHOWN_NAMES.get(name, name)] = first_line
    return shown


def files(changes: Sequence[FileChange]) -> NewEvent:
    """The files a change touches (the first MAX_FILES, and how many more)."""
    listed = [
        {"path": c.path, "additions": c.additions, "deletions": c.deletions}
        for c in changes[:MAX_FILES]
    ]
    return NewEvent(FILES, {"files": listed, "more": max(0, len(changes) - MAX_FILES)})


def file_changes(diff: str, paths: Iterable[str] = ()) -> list[FileChange]:
    """Line counts per file from a `git diff -p` text; `paths` the diff lacks count 0 (linear)."""
    counts: dict[str, list[int]] = {}
    current: list[int] | None = None
    in_hunk = False
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            current, in_hunk = None, False
        elif not in_hunk and line.startswith(("--- ", "+++ ")):
            name = line[4:]
            if line.startswith("+++ ") or current is None:
                path = name[2:] if name.startswith(("a/", "b/")) else name
                if path != "/dev/null":
                    current = counts.setdefault(path, [0, 0])
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and current is not None and line[:1] in ("+", "-"):
            current[0 if line[0] == "+" else 1] += 1
    for path in paths:
        counts.setdefault(path, [0, 0])
    return [FileChange(path, added, deleted) for path, (added, deleted) in counts.items()]


def test_run(label: str, run: TestRun) -> NewEvent:
    """One run of the repository's tests (before the change, after it, after a repair round)."""
    return NewEvent(VERIFICATION, {"run": label, **run_fields(run)})


class Verified(Protocol):
    """What the host's test runs said (handlers/common/verification.py `Verification`)."""

    @property
    def verdict(self) -> str: ...
    @property
    def command(self) -> str: ...
    @property
    def before(self) -> TestRun | None: ...
    @property
    def after(self) -> TestRun | None: ...
    @property
    def rounds(self) -> int: ...
    @property
    def note(self) -> str: ...


def verification(verified: Verified) -> NewEvent:
    """What the host's test runs said of the change: the verdict and the counts."""
    data: dict[str, Any] = {
        "verdict": str(verified.verdict),
        "command": verified.command,
        "rounds": verified.rounds,
    }
    if verified.before is not None:
        data["before"] = run_fields(verified.before)
    if verified.after is not None:
        data["after"] = run_fields(verified.after)
    if verified.note:
        data["note"] = verified.note
    return NewEvent(VERIFICATION, data)


def run_fields(run: TestRun) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": str(run.status), "exit_code": run.exit_code}
    if run.counts is not None:
        counts = run.counts
        fields["counts"] = {
            "passed": counts.passed,
            "failed": counts.failed,
            "errors": counts.errors,
            "skipped": counts.skipped,
            "unit": counts.unit,
        }
    return fields


def usage(record: Mapping[str, Any]) -> NewEvent:
    """What the job has cost so far (the job record's usage: model, turns, tokens, cost)."""
    return NewEvent(USAGE, dict(record))


def ending(state: str, summary: str, next_step: str = "") -> NewEvent:
    """The terminal event for a job that finished in `state` (succeeded, failed, cancelled)."""
    kind = TERMINAL_OF_STATE.get(state, FAILED)
    if kind == COMPLETED:
        return NewEvent(COMPLETED, {"summary": summary})
    data = {"reason": summary, **({"next_step": next_step} if next_step else {})}
    return NewEvent(kind, data)


def stored(event: NewEvent, secrets: Sequence[str]) -> NewEvent:
    """The event as it may be stored: every string redacted, then cut to its kind's length;
    lists and nesting bounded."""
    limit = LIMITS.get(event.kind, DEFAULT_LIMIT)
    return NewEvent(event.kind, _safe(dict(event.data), limit, tuple(secrets), 0))


def _safe(value: Any, limit: int, secrets: tuple[str, ...], depth: int) -> Any:
    if isinstance(value, str):
        return safe_text(value, limit, secrets)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= MAX_DEPTH:
        return CUT
    if isinstance(value, Mapping):
        items = list(value.items())[:MAX_ITEMS]
        return {
            safe_text(str(key), 100, secrets): _safe(item, limit, secrets, depth + 1)
            for key, item in items
        }
    if isinstance(value, list | tuple):
        most = MAX_FILES if depth == 0 else MAX_ITEMS
        return [_safe(item, limit, secrets, depth + 1) for item in value[:most]]
    return safe_text(type(value).__name__, limit, secrets)


def safe_text(value: str, limit: int, secrets: tuple[str, ...]) -> str:
    """Redacted first, then cut: a secret cut in half would no longer be recognised."""
    shown = redact_text(value[: limit + REDACTION_SLACK], secrets)
    return shown if len(shown) <= limit else shown[:limit] + CUT
