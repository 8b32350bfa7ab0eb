"""Messages API response bodies: JSON, and the server-sent events of `stream: true`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.fakes.model.scenario import FinalText, ToolCall, Usage


def content_block(answer: ToolCall | FinalText, tool_use_id: str) -> dict[str, Any]:
    """The one content block of an answer."""
    if isinstance(answer, ToolCall):
        return {"type": "tool_use", "id": tool_use_id, "name": answer.name, "input": answer.input}
    return {"type": "text", "text": answer.text}


def message(*, message_id: str, model: str, block: dict[str, Any], usage: Usage) -> dict[str, Any]:
    """A complete (non-streamed) Messages API response."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": "tool_use" if block["type"] == "tool_use" else "end_turn",
        "stop_sequence": None,
        "usage": _usage_body(usage, usage.output_tokens),
    }


def stream_events(
    *, message_id: str, model: str, block: dict[str, Any], usage: Usage
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs the real API streams for the same message."""
    start = {**message(message_id=message_id, model=model, block=block, usage=usage)}
    start.update(content=[], stop_reason=None, usage=_usage_body(usage, 1))
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    if block["type"] == "tool_use":
        opening = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": part}
            for part in _halves(json.dumps(block["input"]))
        ]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": part} for part in _halves(block["text"])]
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": opening},
    )
    for delta in deltas:
        yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    stop_reason = "tool_use" if block["type"] == "tool_use" else "end_turn"
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": usage.output_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def encode_event(name: str, data: dict[str, Any]) -> bytes:
    """One server-sent event on the wire."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def error_body(error_type: str, message_text: str) -> dict[str, Any]:
    """The API's error shape."""
    return {"type": "error", "error": {"type": error_type, "message": message_text}}


def _usage_body(usage: Usage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
    }


def _halves(text: str) -> list[str]:
    """Split a text in two, as the real API sends deltas in several pieces."""
    middle = len(text) // 2
    return [part for part in (text[:middle], text[middle:]) if part]
