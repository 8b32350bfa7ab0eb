"""Claude Code's `--output-format stream-json --verbose` lines, parsed into typed events (no I/O).

Each line is one JSON object: `system` (subtype `init` first), `assistant` (a model message whose
content holds text and tool_use blocks), `user` (tool_result blocks the CLI sends back), and one
closing `result` (subtype `success`, `error_max_turns`, `error_during_execution`, ...). An API
error ends the run with a `result` whose subtype is still `success` but whose `is_error` is true
and `api_error_status` names the HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class SystemInit:
    """The run started: which session, model, tools and working directory the CLI uses."""

    session_id: str
    model: str
    tools: tuple[str, ...]
    cwd: str


@dataclass(frozen=True)
class AssistantText:
    """Text the model wrote (reasoning shown to the user, or its final answer)."""

    text: str


@dataclass(frozen=True)
class ToolUse:
    """The model asked the CLI to run a tool."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool run gave back to the model (text parts joined; images as a placeholder)."""

    tool_use_id: str
    content: str
    is_error: bool


@dataclass(frozen=True)
class FinalResult:
    """The run ended: how, after how many turns, at what cost, with which closing text."""

    subtype: str
    is_error: bool
    num_turns: int
    duration_ms: int
    total_cost_usd: float
    usage: dict[str, Any]
    result: str
    api_error_status: int | None = None


@dataclass(frozen=True)
class Unknown:
    """A line of a kind this parser does not interpret, kept whole."""

    raw: dict[str, Any] = field(repr=False)


StreamEvent = SystemInit | AssistantText | ToolUse | ToolResult | FinalResult | Unknown


def parse_line(line: str) -> list[StreamEvent]:
    """The events one output line holds; a blank, non-JSON or non-object line holds none."""
    try:
        raw = json.loads(line)
    except ValueError:
        return []
    if not isinstance(raw, dict):
        return []
    kind = raw.get("type")
    if kind == "system" and raw.get("subtype") == "init":
        events: list[StreamEvent] = [_system_init(raw)]
    elif kind == "assistant":
        events = [e for block in _content(raw) if (e := _assistant_block(block)) is not None]
    elif kind == "user":
        events = [_tool_result(block) for block in _content(raw) if _is_tool_result(block)]
    elif kind == "result":
        events = [_final_result(raw)]
    else:
        events = []
    return events or [Unknown(raw)]


def parse_lines(lines: Iterable[str]) -> list[StreamEvent]:
    """The events of a whole transcript, in order."""
    return [event for line in lines for event in parse_line(line)]


def _system_init(raw: dict[str, Any]) -> SystemInit:
    tools = raw.get("tools")
    return SystemInit(
        session_id=_text(raw.get("session_id")),
        model=_text(raw.get("model")),
        tools=tuple(t for t in tools if isinstance(t, str)) if isinstance(tools, list) else (),
        cwd=_text(raw.get("cwd")),
    )


def _content(raw: dict[str, Any]) -> list[dict[str, Any]]:
    message = raw.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return (
        [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []
    )


def _assistant_block(block: dict[str, Any]) -> StreamEvent | None:
    if block.get("type") == "text":
        return AssistantText(_text(block.get("text")))
    if block.get("type") == "tool_use":
        tool_input = block.get("input")
        return ToolUse(
            id=_text(block.get("id")),
            name=_text(block.get("name")),
            input=tool_input if isinstance(tool_input, dict) else {},
        )
    return None  # thinking and other blocks carry nothing the service reports


def _is_tool_result(block: dict[str, Any]) -> bool:
    return block.get("type") == "tool_result"


def _tool_result(block: dict[str, Any]) -> ToolResult:
    return ToolResult(
        tool_use_id=_text(block.get("tool_use_id")),
        content=_result_text(block.get("content")),
        is_error=block.get("is_error") is True,
    )


def _result_text(content: Any) -> str:
    """A tool result's content is a string or a list of text/image blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(_text(part.get("text")))
        elif isinstance(part, dict) and part.get("type") == "image":
            parts.append("[image]")
    return "\n".join(parts)


def _final_result(raw: dict[str, Any]) -> FinalResult:
    usage = raw.get("usage")
    status = raw.get("api_error_status")
    return FinalResult(
        subtype=_text(raw.get("subtype")),
        is_error=raw.get("is_error") is True,
        num_turns=_number(raw.get("num_turns"), int),
        duration_ms=_number(raw.get("duration_ms"), int),
        total_cost_usd=_number(raw.get("total_cost_usd"), float),
        usage=usage if isinstance(usage, dict) else {},
        result=_text(raw.get("result")),
        api_error_status=status
        if isinstance(status, int) and not isinstance(status, bool)
        else None,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any, kind: type[Number]) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return kind(0)
    return kind(value)
