"""The fake model API behaves like the real one where the CLI and the relay can tell."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes.model.fixtures import FakeModel
from tests.fakes.model.scenario import Failure, Scenario, Usage

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]
PROMPT = {"role": "user", "content": "Fix the failing test."}


def conversation(*tool_results: str) -> list[dict[str, Any]]:
    """The messages the CLI sends after the model's first N tool calls came back."""
    messages: list[dict[str, Any]] = [PROMPT]
    for number, output in enumerate(tool_results, start=1):
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": f"t{number}", "name": "Bash", "input": {}}],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"t{number}", "content": output}
                ],
            }
        )
    return messages


def post(
    fake: FakeModel,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    tools: list[dict[str, Any]] | None = TOOLS,
    key: str | None = None,
    path: str = "/v1/messages",
) -> httpx.Response:
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 512, "messages": messages}
    if tools:
        body["tools"] = tools
    if stream:
        body["stream"] = True
    headers = {"x-api-key": fake.api_key if key is None else key, "anthropic-version": "2023-06-01"}
    return httpx.post(fake.url + path, json=body, headers=headers, timeout=10)


def assemble(sse: str) -> dict[str, Any]:
    """Rebuild the message from its server-sent events, as an SDK client does."""
    message: dict[str, Any] = {}
    partial_json: dict[int, str] = {}
    for event in sse.strip().split("\n\n"):
        name_line, data_line = event.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {data['type']}"
        if data["type"] == "message_start":
            message = data["message"]
        elif data["type"] == "content_block_start":
            message["content"].append(data["content_block"])
        elif data["type"] == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partial_json[data["index"]] = (
                    partial_json.get(data["index"], "") + delta["partial_json"]
                )
        elif data["type"] == "content_block_stop" and data["index"] in partial_json:
            message["content"][data["index"]]["input"] = json.loads(partial_json[data["index"]])
        elif data["type"] == "message_delta":
            message.update(data["delta"])
            message["usage"].update(data["usage"])
    return message


def test_a_wrong_key_is_refused_like_the_real_api(fake_model: FakeModel) -> None:
    """Without the configured key the fake answers 401 authentication_error and plays nothing."""
    for key in ("", "sk-ant-api03-wrong", "fwcap-capability"):
        response = post(fake_model, [PROMPT], key=key)
        assert response.status_code == 401
        assert response.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        }
    assert post(fake_model, [PROMPT]).status_code == 200


def test_the_scenario_is_played_by_conversation_position(fake_model: FakeModel) -> None:
    """Each answer follows from the tool calls already made, so a retried request gets the same one."""
    fake_model.set_scenario(
        Scenario(
            [Scenario.run("pytest -q"), Scenario.edit_file("/w/a.py", "1", "2"), Scenario.say("ok")]
        )
    )
    first = post(fake_model, conversation()).json()
    again = post(fake_model, conversation()).json()
    second = post(fake_model, conversation("1 failed")).json()
    last = post(fake_model, conversation("1 failed", "edited")).json()
    beyond = post(fake_model, conversation("1 failed", "edited", "extra")).json()

    assert first["content"][0]["input"] == {"command": "pytest -q", "description": "Run a command"}
    assert first["stop_reason"] == "tool_use"
    assert again["content"] == [{**first["content"][0], "id": again["content"][0]["id"]}]
    assert second["content"][0]["name"] == "Edit"
    assert second["content"][0]["input"]["old_string"] == "1"
    assert last["content"] == [{"type": "text", "text": "ok"}]
    assert last["stop_reason"] == "end_turn"
    assert beyond["content"] == [{"type": "text", "text": "Done."}]


def test_side_requests_without_tools_get_a_short_reply_and_do_not_advance(
    fake_model: FakeModel,
) -> None:
    """A title or quota request from the CLI is answered with plain text, leaving the script alone."""
    fake_model.set_scenario(Scenario([Scenario.run("ls"), Scenario.say("ok")], side_reply="Title"))
    side = post(fake_model, [PROMPT], tools=None).json()
    assert side["content"] == [{"type": "text", "text": "Title"}]
    assert post(fake_model, conversation()).json()["content"][0]["name"] == "Bash"
    assert len(fake_model.api.scenario_requests) == 1


def test_the_stream_rebuilds_into_the_same_message_as_json(fake_model: FakeModel) -> None:
    """Streamed events (start, block deltas, delta, stop) carry exactly the JSON answer's content."""
    fake_model.set_scenario(
        Scenario([Scenario.write_file("/workspace/a.txt", "hello\n"), Scenario.say("Wrote a.txt")])
    )
    for messages in (conversation(), conversation("ok")):
        plain = post(fake_model, messages).json()
        streamed = post(fake_model, messages, stream=True)
        assert streamed.headers["content-type"].startswith("text/event-stream")
        rebuilt = assemble(streamed.text)
        ids = [
            block.pop("id", None) for message in (plain, rebuilt) for block in message["content"]
        ]
        del plain["id"], rebuilt["id"]
        assert rebuilt == plain
        assert ids[0] != ids[1] or ids[0] is None


def test_usage_is_deterministic(fake_model: FakeModel) -> None:
    """Every answer reports the scenario's token counts, so tests can assert totals."""
    fake_model.set_scenario(Scenario(usage=Usage(7, 3, 2, 1)))
    assert post(fake_model, [PROMPT]).json()["usage"] == {
        "input_tokens": 7,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 1,
        "output_tokens": 3,
    }


def test_failures_are_served_before_the_step_then_the_step(fake_model: FakeModel) -> None:
    """A step can fail a set number of times (529, then 500) before it is answered."""
    fake_model.set_scenario(
        Scenario([Scenario.overloaded(times=2), Scenario.server_error(), Scenario.run("ls")])
    )
    statuses = [post(fake_model, [PROMPT]).status_code for _ in range(5)]
    assert statuses == [529, 529, 500, 200, 200]
    assert post(fake_model, [PROMPT]).json()["content"][0]["name"] == "Bash"


def test_a_failure_without_a_count_never_stops(fake_model: FakeModel) -> None:
    """`times=None` fails every request at that point, like a revoked key."""
    fake_model.set_scenario(Scenario([Failure(401, "authentication_error", "revoked", None)]))
    for _ in range(3):
        response = post(fake_model, [PROMPT])
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "revoked"


def test_requests_and_tool_results_are_recorded(fake_model: FakeModel) -> None:
    """Tests can see every request and, once each, what the CLI's tools reported back."""
    post(fake_model, conversation("first output"))
    post(fake_model, conversation("first output", "second output"))
    assert [r.path for r in fake_model.requests] == ["/v1/messages"] * 2
    assert fake_model.requests[0].headers["x-api-key"] == fake_model.api_key
    assert fake_model.tool_results == ["first output", "second output"]
    assert [b.tool_use_id for b in fake_model.tool_result_blocks] == ["t1", "t2"]


def test_count_tokens_answers_a_count(fake_model: FakeModel) -> None:
    """The token-counting endpoint exists, checks the key and returns a positive count."""
    response = post(fake_model, [PROMPT], path="/v1/messages/count_tokens")
    assert response.status_code == 200
    assert response.json()["input_tokens"] > 0
    assert (
        post(fake_model, [PROMPT], key="bad", path="/v1/messages/count_tokens").status_code == 401
    )


@pytest.mark.parametrize("missing", ["anthropic-version", "messages"])
def test_malformed_requests_are_rejected_as_the_real_api_does(
    fake_model: FakeModel, missing: str
) -> None:
    """No version header or no messages is a 400 invalid_request_error."""
    headers = {"x-api-key": fake_model.api_key, "anthropic-version": "2023-06-01"}
    body: dict[str, Any] = {"model": "m", "max_tokens": 5, "messages": [PROMPT]}
    headers.pop(missing, None)
    body.pop(missing, None)
    response = httpx.post(fake_model.url + "/v1/messages", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
