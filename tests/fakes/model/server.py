"""A scripted Anthropic Messages API: checks the key, records every request, plays a scenario."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.model import messages
from tests.fakes.model.scenario import DEFAULT_FINAL, Failure, FinalText, Scenario, Turn

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class SeenToolResult:
    """A tool result the CLI sent back to the model: what a tool's output showed the model."""

    tool_use_id: str
    content: str
    is_error: bool


class FakeModelAPI:
    """The fake's state and its Starlette app; safe to inspect from the test's thread."""

    def __init__(self, api_key: str, scenario: Scenario | None = None) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._scenario = scenario or Scenario()
        self._failures_served: dict[int, int] = {}
        self._requests: list[RecordedRequest] = []
        self._answers: list[bytes] = []
        self._ids = itertools.count(1)
        self._holding = False
        self._holding_agent_turns = True
        self._held = 0
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            ]
        )

    def set_scenario(self, scenario: Scenario) -> None:
        """Play this scenario from now on, from its first step."""
        with self._lock:
            self._scenario = scenario
            self._failures_served.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (rejected ones included)."""
        with self._lock:
            return list(self._requests)

    @property
    def answers(self) -> list[bytes]:
        """The exact body bytes of every Messages answer sent, errors included, in order."""
        with self._lock:
            return list(self._answers)

    @property
    def scenario_requests(self) -> list[RecordedRequest]:
        """The Messages requests that carried tools: the agent's own turns, not side requests."""
        return [r for r in self.requests if r.path == "/v1/messages" and _is_agent_turn(r.body)]

    @property
    def tool_result_blocks(self) -> list[SeenToolResult]:
        """Each tool result the CLI sent back, once, in conversation order."""
        seen: dict[str, SeenToolResult] = {}
        for request in self.requests:
            for block in _blocks(request.body):
                if block.get("type") == "tool_result" and block["tool_use_id"] not in seen:
                    seen[block["tool_use_id"]] = SeenToolResult(
                        block["tool_use_id"],
                        _text_of(block.get("content", "")),
                        bool(block.get("is_error", False)),
                    )
        return list(seen.values())

    @property
    def tool_results(self) -> list[str]:
        """The text of each tool result the CLI sent back (what the model was shown)."""
        return [result.content for result in self.tool_result_blocks]

    async def _messages(self, request: Request) -> Response:
        response = await self._answer(request)
        if not isinstance(response, StreamingResponse):  # a stream records itself once sent
            with self._lock:
                self._answers.append(bytes(response.body))
        return response

    async def _answer(self, request: Request) -> Response:
        body, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        turn, failure = self._next(body)
        if isinstance(failure, Failure):
            return _error(failure.status, failure.error_type, failure.message)
        number = next(self._ids)
        block = messages.content_block(turn.answer, f"toolu_{number:04d}fakeToolUse{number:08d}")
        fields = {
            "message_id": f"msg_{number:04d}fakeMessage{number:08d}",
            "model": str(body.get("model", "claude-sonnet-4-5")),
            "block": block,
            "usage": self._scenario.usage,
        }
        headers = {"request-id": f"req_{number:04d}fake"}
        if failure is not None:
            return _CutAnswer(_first_part(bool(body.get("stream")), fields), headers)
        if body.get("stream"):
            hold = not _is_agent_turn(body) or self._holding_agent_turns
            return StreamingResponse(
                self._sse(messages.stream_events(**fields), hold=hold),
                media_type=SSE_CONTENT_TYPE,
                headers={**headers, "cache-control": "no-cache"},
            )
        return JSONResponse(messages.message(**fields), headers=headers)

    def hold_streams(self, *, side_requests_only: bool = False) -> None:
        """From now on, streams pause after their first event until `release_streams` (only
        those of requests without tools, with `side_requests_only`: the agent's turns go on)."""
        with self._lock:
            self._holding = True
            self._holding_agent_turns = not side_requests_only

    def release_streams(self) -> None:
        """Let every paused stream go on (from any thread), and pause no more."""
        with self._lock:
            self._holding = False
            waiting, self._waiting = self._waiting, []
        for loop, released in waiting:
            loop.call_soon_threadsafe(released.set)

    @property
    def held(self) -> int:
        """How many streams are paused now."""
        with self._lock:
            return self._held

    async def _sse(
        self, events: Iterator[tuple[str, dict[str, Any]]], *, hold: bool
    ) -> AsyncIterator[bytes]:
        """Send the events one by one, as separate chunks, recording the bytes sent."""
        sent = bytearray()
        for name, data in events:
            chunk = messages.encode_event(name, data)
            sent += chunk
            yield chunk
            await asyncio.sleep(0)
            if name == "message_start" and hold:
                await self._while_held()
        with self._lock:
            self._answers.append(bytes(sent))

    async def _while_held(self) -> None:
        released = asyncio.Event()
        with self._lock:
            if not self._holding:
                return
            self._waiting.append((asyncio.get_running_loop(), released))
            self._held += 1
        try:
            await released.wait()
        finally:
            with self._lock:
                self._held -= 1

    async def _count_tokens(self, request: Request) -> Response:
        body, refusal = await self._admit(request)
        if refusal is not None:
            return refusal
        return JSONResponse({"input_tokens": max(1, len(json.dumps(body)) // 4)})

    async def _admit(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        """Record the request, then check its key, version header and JSON as the real API does."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        with self._lock:
            self._requests.append(
                RecordedRequest(request.method, request.url.path, dict(request.headers), body)
            )
        key = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return body, _error(401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in request.headers:
            return body, _error(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        if not isinstance(body, dict) or not body.get("messages"):
            return body, _error(400, "invalid_request_error", "messages: Field required")
        return body, None

    def _next(self, body: dict[str, Any]) -> tuple[Turn, Any]:
        """The turn this conversation is at, and the failure to answer instead, if one is due."""
        scenario = self._scenario
        if not _is_agent_turn(body):
            return Turn(FinalText(scenario.side_reply)), None
        position = sum(1 for m in body["messages"] if m.get("role") == "assistant")
        turns = scenario.turns()
        turn = turns[position] if position < len(turns) else Turn(DEFAULT_FINAL)
        with self._lock:
            served = self._failures_served.get(position, 0)
            budget = 0
            for failure in turn.failures:
                if failure.times is None or served < budget + failure.times:
                    self._failures_served[position] = served + 1
                    return turn, failure
                budget += failure.times
        return turn, None


def _is_agent_turn(body: dict[str, Any]) -> bool:
    """The CLI's side requests (titles, quota checks) come without tools; agent turns carry them."""
    return bool(body.get("tools"))


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for message_ in body.get("messages", []):
        content = message_.get("content")
        if isinstance(content, list):
            blocks.extend(b for b in content if isinstance(b, dict))
    return blocks


def _text_of(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        part.get("text", "") for part in content if isinstance(part, dict) and "text" in part
    )


class _CutAnswer(Response):
    """The start of an answer on a connection that then drops: the headers and the first part
    of the body go out, the body's end never does (the server closes the connection)."""

    def __init__(self, first_part: bytes, headers: dict[str, str]) -> None:
        streamed = first_part.startswith(b"event:")
        media_type = SSE_CONTENT_TYPE if streamed else "application/json"
        super().__init__(first_part, media_type=media_type, headers=headers)
        # Sent in chunks with no length, as a stream is: the reader cannot tell it is whole.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})


def _first_part(streamed: bool, fields: dict[str, Any]) -> bytes:
    """What a cut answer gets out: a stream's `message_start`, or half of a JSON body."""
    if streamed:
        name, data = next(messages.stream_events(**fields))
        return messages.encode_event(name, data)
    whole = json.dumps(messages.message(**fields)).encode()
    return whole[: len(whole) // 2]


def _error(status: int, error_type: str, message_text: str) -> JSONResponse:
    return JSONResponse(messages.error_body(error_type, message_text), status_code=status)
