"""Token usage read from model API responses, JSON or streamed, without touching the bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

# Cache reads are billed at a tenth of the input price, and Claude Code re-reads its whole context
# from the cache on every turn; counting them in full would spend a budget on repetition.
CACHE_READ_WEIGHT_DIVISOR = 10
MAX_JSON_BODY = 16 * 1024 * 1024
MAX_SSE_LINE = 4 * 1024 * 1024


@dataclass(frozen=True)
class JobUsage:
    """Tokens a job's model requests used, summed over its answered requests."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    requests: int = 0

    @property
    def total(self) -> int:
        """Every token the model read or wrote for the job, cache reads included."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    @property
    def budgeted(self) -> int:
        """The tokens charged against the job's budget: cache reads count a tenth."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens // CACHE_READ_WEIGHT_DIVISOR
        )

    def __add__(self, other: JobUsage) -> JobUsage:
        return JobUsage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class UsageMeter:
    """Reads one response's usage as its body streams by; `feed` returns what is newly counted.

    A JSON body carries a `usage` object. A stream carries it in `message_start.message.usage`
    and then in `message_delta.usage`, whose numbers are running totals for the message, so each
    event replaces the figures it names and only the growth is reported.
    """

    def __init__(self, content_type: str) -> None:
        self._streamed = content_type.split(";")[0].strip().lower() == "text/event-stream"
        self._buffer = bytearray()
        self._seen = dict.fromkeys(TOKEN_FIELDS, 0)
        self._overflowed = False
        self._finished = False

    @property
    def streamed(self) -> bool:
        """True for a server-sent event stream, read as it comes; False for a body read whole."""
        return self._streamed

    @property
    def finished(self) -> bool:
        """True once the answer is known to be whole: a stream's `message_stop`, or a JSON body
        that parsed. An answer cut short never is."""
        return self._finished

    def feed(self, chunk: bytes) -> JobUsage:
        """Take the next piece of the body; return the tokens it newly revealed."""
        if self._overflowed:
            return JobUsage()
        self._buffer += chunk
        if not self._streamed:
            self._overflowed = len(self._buffer) > MAX_JSON_BODY
            return JobUsage()
        growth = JobUsage()
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            growth += self._read_sse_line(line)
        if len(self._buffer) > MAX_SSE_LINE:
            self._overflowed = True
        return growth

    def finish(self) -> JobUsage:
        """The body ended: return what its end revealed (all of it, for a JSON body)."""
        if self._overflowed:
            return JobUsage()
        if self._streamed:
            return self._read_sse_line(bytes(self._buffer).rstrip(b"\r"))
        try:
            body = json.loads(self._buffer)
        except (ValueError, RecursionError):
            return JobUsage()
        self._finished = isinstance(body, dict)
        if not isinstance(body, dict) or not isinstance(body.get("usage"), dict):
            return JobUsage()
        return self._update(body["usage"])

    def _read_sse_line(self, line: bytes) -> JobUsage:
        if not line.startswith(b"data:"):
            return JobUsage()
        try:
            event = json.loads(line[5:])
        except (ValueError, RecursionError):
            return JobUsage()
        if not isinstance(event, dict):
            return JobUsage()
        if event.get("type") == "message_stop":
            self._finished = True
            return JobUsage()
        if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
            usage = event["message"].get("usage")
        elif event.get("type") == "message_delta":
            usage = event.get("usage")
        else:
            return JobUsage()
        return self._update(usage) if isinstance(usage, dict) else JobUsage()

    def _update(self, usage: dict[str, Any]) -> JobUsage:
        """Replace the running figures with those `usage` names; return their growth."""
        growth = dict.fromkeys(TOKEN_FIELDS, 0)
        for name in TOKEN_FIELDS:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > self._seen[name]:
                growth[name] = value - self._seen[name]
                self._seen[name] = value
        return JobUsage(**growth)
