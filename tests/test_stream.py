"""Parsing the real CLI's stream-json output into the events the service reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.stream import (
    AssistantText,
    FinalResult,
    SystemInit,
    ToolResult,
    ToolUse,
    Unknown,
    parse_line,
    parse_lines,
)

TRANSCRIPTS = Path(__file__).parent / "fakes" / "model" / "transcripts"


def transcript(name: str) -> list[str]:
    return (TRANSCRIPTS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()


def test_a_real_successful_run_parses_into_its_tool_calls_results_and_answer() -> None:
    """A captured CLI run reads as: init, five tool calls each with its result, the answer, the end."""
    events = parse_lines(transcript("success"))

    init = events[0]
    assert isinstance(init, SystemInit)
    assert init.cwd == "/workspace"
    assert {"Bash", "Read", "Write", "Edit"} <= set(init.tools)
    assert init.session_id and init.model

    calls = [e for e in events if isinstance(e, ToolUse)]
    assert [c.name for c in calls] == ["Bash", "Write", "Read", "Edit", "Read"]
    assert calls[0].input["command"] == "echo hello from bash"
    assert calls[3].input == {
        "replace_all": False,
        "file_path": "/workspace/notes.txt",
        "old_string": "first line",
        "new_string": "second line",
    }

    results = [e for e in events if isinstance(e, ToolResult)]
    assert [r.tool_use_id for r in results] == [c.id for c in calls]
    assert results[0] == ToolResult(calls[0].id, "hello from bash", False)
    assert "first line" in results[2].content
    assert results[4].is_error and "does not exist" in results[4].content
    assert not any(r.is_error for r in results[:4])

    assert events[-2] == AssistantText("I wrote notes.txt and changed its line.")
    final = events[-1]
    assert isinstance(final, FinalResult)
    assert (final.subtype, final.is_error, final.num_turns) == ("success", False, 6)
    assert final.result == "I wrote notes.txt and changed its line."
    assert final.api_error_status is None
    assert final.total_cost_usd > 0 and final.duration_ms > 0
    assert final.usage["input_tokens"] == 600 and final.usage["output_tokens"] == 120
    assert not any(isinstance(e, Unknown) for e in events)


def test_a_run_out_of_turns_ends_with_error_max_turns() -> None:
    """When the CLI hits --max-turns the final event says so, as an error without closing text."""
    final = parse_lines(transcript("max_turns"))[-1]
    assert isinstance(final, FinalResult)
    assert (final.subtype, final.is_error, final.result) == ("error_max_turns", True, "")
    assert final.num_turns == 3


def test_an_api_refusal_ends_as_an_error_naming_the_status_and_message() -> None:
    """A 400 from the relay (budget spent) ends the run with is_error, the status and the message."""
    events = parse_lines(transcript("api_error"))
    final = events[-1]
    assert isinstance(final, FinalResult)
    assert final.is_error and final.api_error_status == 400
    assert "token budget of 300 tokens is spent" in final.result
    assert AssistantText(final.result) in events


def test_error_during_execution_is_read_from_its_result_line() -> None:
    """The CLI's other failure subtype is carried through with its numbers."""
    line = json.dumps(
        {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "num_turns": 4,
            "duration_ms": 1234,
            "total_cost_usd": 0.5,
            "usage": {"input_tokens": 7},
            "session_id": "s",
        }
    )
    assert parse_line(line) == [
        FinalResult("error_during_execution", True, 4, 1234, 0.5, {"input_tokens": 7}, "")
    ]


def test_one_assistant_line_may_hold_text_and_several_tool_calls() -> None:
    """Every block of a message becomes its own event, in order; thinking blocks are left out."""
    line = json.dumps(
        {
            "type": "assistant",
            "message": {
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "x"},
                    {"type": "text", "text": "Two things first."},
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "a"}},
                    {"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "ls"}},
                ]
            },
        }
    )
    assert parse_line(line) == [
        AssistantText("Two things first."),
        ToolUse("t1", "Read", {"file_path": "a"}),
        ToolUse("t2", "Bash", {"command": "ls"}),
    ]


def test_tool_results_given_as_blocks_are_joined_to_text() -> None:
    """A result made of text and image blocks reads as its texts with an image placeholder."""
    line = json.dumps(
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "text", "text": "line one"},
                            {"type": "image", "source": {}},
                        ],
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "content": "boom",
                        "is_error": True,
                    },
                ],
            },
        }
    )
    assert parse_line(line) == [
        ToolResult("t1", "line one\n[image]", False),
        ToolResult("t2", "boom", True),
    ]


@pytest.mark.parametrize("line", ["", "   ", "not json", "{broken", "[1, 2]", "42", '"text"'])
def test_garbage_lines_hold_no_events(line: str) -> None:
    """Lines that are not JSON objects (stray output, truncation) are ignored, not errors."""
    assert parse_line(line) == []


def test_lines_of_other_kinds_are_kept_as_unknown() -> None:
    """Kinds the parser does not interpret survive whole, so nothing is silently lost."""
    raw = {"type": "system", "subtype": "compact_boundary", "session_id": "s"}
    assert parse_line(json.dumps(raw)) == [Unknown(raw)]
    odd = {"type": "assistant", "message": {"content": "not a list"}}
    assert parse_line(json.dumps(odd)) == [Unknown(odd)]


def test_fields_of_the_wrong_type_fall_back_to_empty_values() -> None:
    """A malformed result line still yields a FinalResult the service can report on."""
    line = json.dumps({"type": "result", "subtype": 3, "num_turns": "x", "is_error": "yes"})
    assert parse_line(line) == [FinalResult("", False, 0, 0, 0.0, {}, "")]
