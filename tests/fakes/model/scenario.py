"""Scenarios for the fake model API: which tool calls it makes, then which final text it gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One assistant turn that asks the CLI to run a tool with the CLI's own input schema."""

    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class FinalText:
    """The assistant's closing answer: plain text, `end_turn`, no more tool calls."""

    text: str


@dataclass(frozen=True)
class Failure:
    """An API error answered instead of the next turn, `times` times (None: every time)."""

    status: int
    error_type: str
    message: str
    times: int | None = 1


@dataclass(frozen=True)
class StreamCut:
    """The answer's connection drops after `message_start`, `times` times (None: every time):
    the client has the start of an answer and never its end, as when a network path fails."""

    times: int | None = 1


Step = ToolCall | FinalText | Failure | StreamCut


@dataclass(frozen=True)
class Usage:
    """The token counts reported on every answer, fixed so tests can assert totals."""

    input_tokens: int = 100
    output_tokens: int = 20
    cache_creation_input_tokens: int = 30
    cache_read_input_tokens: int = 50


@dataclass(frozen=True)
class Turn:
    """What the fake answers at one position of the conversation, after its failures."""

    answer: ToolCall | FinalText
    failures: tuple[Failure | StreamCut, ...] = ()


DEFAULT_FINAL = FinalText("Done.")


@dataclass(frozen=True)
class Scenario:
    """A scripted conversation: answer N is chosen by the N assistant turns already in a request."""

    steps: tuple[Step, ...] | list[Step] = (DEFAULT_FINAL,)
    usage: Usage = field(default_factory=Usage)
    side_reply: str = "Fix the failing test"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))

    def turns(self) -> tuple[Turn, ...]:
        """The steps grouped into turns: each failure attaches to the answer that follows it."""
        turns: list[Turn] = []
        pending: list[Failure | StreamCut] = []
        for step in self.steps:
            if isinstance(step, (Failure, StreamCut)):
                pending.append(step)
                continue
            turns.append(Turn(step, tuple(pending)))
            pending = []
        if pending:
            turns.append(Turn(DEFAULT_FINAL, tuple(pending)))
        return tuple(turns)

    # Steps in the CLI's real tool input schemas.

    @staticmethod
    def write_file(path: str, content: str) -> ToolCall:
        """Create or overwrite a file (the CLI's `Write` tool; it wants an absolute path)."""
        return ToolCall("Write", {"file_path": path, "content": content})

    @staticmethod
    def edit_file(path: str, old: str, new: str) -> ToolCall:
        """Replace one exact string in a file (the CLI's `Edit` tool; read the file first)."""
        return ToolCall(
            "Edit", {"file_path": path, "old_string": old, "new_string": new, "replace_all": False}
        )

    @staticmethod
    def read(path: str) -> ToolCall:
        """Read a file (the CLI's `Read` tool)."""
        return ToolCall("Read", {"file_path": path})

    @staticmethod
    def run(command: str, description: str = "Run a command") -> ToolCall:
        """Run a shell command (the CLI's `Bash` tool)."""
        return ToolCall("Bash", {"command": command, "description": description})

    @staticmethod
    def say(text: str) -> FinalText:
        """End the conversation with this text."""
        return FinalText(text)

    @staticmethod
    def overloaded(times: int | None = 1) -> Failure:
        """HTTP 529, which the CLI retries."""
        return Failure(529, "overloaded_error", "Overloaded", times)

    @staticmethod
    def server_error(times: int | None = 1) -> Failure:
        """HTTP 500, which the CLI retries."""
        return Failure(500, "api_error", "Internal server error", times)

    @staticmethod
    def cut_stream(times: int | None = 1) -> StreamCut:
        """The connection drops after the answer's first event, which the CLI retries."""
        return StreamCut(times)

    @staticmethod
    def unauthorized(times: int | None = None) -> Failure:
        """HTTP 401, as for a revoked key."""
        return Failure(401, "authentication_error", "invalid x-api-key", times)

    @classmethod
    def fix_file(cls, path: str, old: str, new: str, summary: str = "Fixed it.") -> Scenario:
        """Read a file, edit it, and say what was done: the shape of a typical fix."""
        return cls([cls.read(path), cls.edit_file(path, old, new), cls.say(summary)])
