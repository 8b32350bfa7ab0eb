"""The relay over its real socket in front of the fake model: what it refuses never leaves the
host, and its budgets hold with requests in flight, answers cut short and jobs sharing a day."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.relay import ModelRelay
from sandbox.relay_budget import PoolShare
from sandbox.usage import JobUsage
from tests.fakes.model.fixtures import FakeModel
from tests.fakes.model.scenario import Scenario
from tests.test_relay import MODEL, ONE_ANSWER, QUESTION, ask, assert_api_error, socket_dir
from tests.waiting import wait_for

__all__ = ["socket_dir"]  # a fixture, used by name

MAX_TOKENS = QUESTION["max_tokens"]  # 1,024: what each request reserves


@pytest.fixture
async def counted(
    fake_model: FakeModel, socket_dir: Path
) -> AsyncIterator[tuple[ModelRelay, list[str]]]:
    """A relay that keeps the reason of every refusal, with a small body limit."""
    reasons: list[str] = []
    relay = ModelRelay(
        socket_path=socket_dir / "model.sock",
        upstream_url=fake_model.url,
        api_key=fake_model.api_key,
        on_refusal=reasons.append,
        max_body_bytes=64 * 1024,
        extra_models=("claude-haiku-4-5",),
    )
    await relay.start()
    yield relay, reasons
    await relay.stop()


async def raw_post(relay: ModelRelay, token: str, content: Any, **headers: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(uds=str(relay.socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        return await client.post(
            "/v1/messages",
            content=content,
            headers={"x-api-key": token, "anthropic-version": "2023-06-01", **headers},
        )


@pytest.mark.parametrize(
    ("change", "headers", "reason", "words"),
    [
        (
            {"mcp_servers": [{"type": "url", "url": "https://evil.example/mcp", "name": "x"}]},
            {"anthropic-beta": "mcp-client-2025-04-04"},
            "mcp_servers",
            "`mcp_servers`",
        ),
        (
            {"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]},
            {"anthropic-beta": "web-fetch-2025-09-10"},
            "server_tool",
            "'web_fetch_20250910'",
        ),
        ({"model": "claude-opus-4-1"}, {}, "model_not_allowed", "'claude-opus-4-1'"),
        ({"max_tokens": 10**9}, {}, "max_tokens", "over this job's cap of 1,024"),
        ({"container": "container_011"}, {}, "field_not_allowed", "'container'"),
        ({}, {"anthropic-beta": "files-api-2025-04-14"}, "beta_not_allowed", "files-api"),
    ],
)
async def test_what_the_cli_does_not_send_never_reaches_the_model(
    counted: tuple[ModelRelay, list[str]],
    fake_model: FakeModel,
    change: dict[str, Any],
    headers: dict[str, str],
    reason: str,
    words: str,
) -> None:
    """Each attack gets a 400 naming what was refused, is counted, and is never sent upstream."""
    relay, reasons = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000, max_tokens=1024)
    response = await ask(relay, {"x-api-key": token, **headers}, body={**QUESTION, **change})
    assert_api_error(response, 400, "invalid_request_error", words)
    assert response.headers["x-should-retry"] == "false"
    assert reasons == [reason]
    assert fake_model.requests == []
    assert relay.usage("job-1") == JobUsage()


async def test_only_the_headers_the_api_needs_go_upstream(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """The CLI's SDK and session headers stay on the host; the body goes byte for byte."""
    relay, _ = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    content = json.dumps({**QUESTION, "stream": False}).encode()
    response = await raw_post(
        relay,
        token,
        content,
        **{
            "content-type": "application/json",
            "user-agent": "claude-cli/2.1.332 (external, sdk-cli)",
            "anthropic-beta": "claude-code-20250219",
            "x-stainless-os": "Linux",
            "x-claude-code-session-id": "s-1",
            "x-app": "cli",
            "anthropic-dangerous-direct-browser-access": "true",
            "cookie": "a=b",
        },
    )
    assert response.status_code == 200
    [seen] = fake_model.requests
    assert set(seen.headers) == {
        "host",
        "connection",
        "content-length",
        "content-type",
        "user-agent",
        "anthropic-version",
        "anthropic-beta",
        "accept-encoding",
        "x-api-key",
        "accept",
    }
    assert seen.headers["user-agent"].startswith("claude-cli/")
    assert seen.body == json.loads(content)


async def test_a_model_on_the_operators_list_passes(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """Besides the job's own model, the operator's extra models pass."""
    relay, _ = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    response = await ask(
        relay, {"x-api-key": token}, body={**QUESTION, "model": "claude-haiku-4-5"}
    )
    assert response.status_code == 200


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """Declared or streamed without a length, a body past the limit gets a 413 and goes nowhere."""
    relay, reasons = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    huge = json.dumps({**QUESTION, "system": "x" * 100_000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 8192):
            yield huge[start : start + 8192]

    declared = await raw_post(relay, token, huge)
    streamed = await raw_post(relay, token, chunks())
    for response in (declared, streamed):
        assert_api_error(response, 413, "request_too_large", "at most 65,536 bytes")
    assert reasons == ["body_too_large", "body_too_large"]
    assert fake_model.requests == []
    # The places those requests took are free again.
    assert (await ask(relay, {"x-api-key": token})).status_code == 200


async def test_junk_is_a_clear_400(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    relay, reasons = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    response = await raw_post(relay, token, b"{not json")
    assert_api_error(response, 400, "invalid_request_error", "not a JSON object")
    assert reasons == ["invalid_body"] and fake_model.requests == []


async def test_a_third_request_in_flight_waits_its_turn(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """With two answers streaming, a third gets a 429 the CLI retries; after them it passes."""
    relay, reasons = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    fake_model.api.hold_streams()
    running = [asyncio.create_task(ask(relay, {"x-api-key": token})) for _ in range(2)]
    await asyncio.to_thread(wait_for, lambda: fake_model.api.held == 2, 10)

    third = await ask(relay, {"x-api-key": token})

    assert_api_error(third, 429, "rate_limit_error", "2 model requests in flight")
    assert (third.headers["retry-after"], third.headers["x-should-retry"]) == ("1", "true")
    assert reasons == ["too_many_in_flight"]
    fake_model.api.release_streams()
    assert [r.status_code for r in await asyncio.gather(*running)] == [200, 200]
    assert (await ask(relay, {"x-api-key": token})).status_code == 200
    assert len(fake_model.requests) == 3


async def test_a_reservation_over_the_budget_is_refused_before_anything_is_sent(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """A budget below one request's max_tokens refuses it outright; nothing reaches the model."""
    relay, reasons = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=MAX_TOKENS - 1)
    response = await ask(relay, {"x-api-key": token})
    assert_api_error(
        response, 400, "invalid_request_error", "cannot cover this request's max_tokens"
    )
    assert reasons == ["budget_spent"] and fake_model.requests == []


async def test_a_stream_cut_after_message_start_is_charged_its_reservation(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """The model API drops the connection after message_start: so does the relay, and the job
    pays that request's max_tokens."""
    relay, _ = counted
    fake_model.set_scenario(Scenario([Scenario.cut_stream(), Scenario.run("ls")]))
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    received = bytearray()
    transport = httpx.AsyncHTTPTransport(uds=str(relay.socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        body = json.dumps({**QUESTION, "stream": True})
        headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream(
                "POST", "/v1/messages", content=body, headers=headers
            ) as answer:
                async for chunk in answer.aiter_raw():
                    received += chunk
    assert b"event: message_start" in received and b"message_stop" not in received
    # What message_start reported, and the rest of the reservation as output.
    assert relay.usage("job-1") == JobUsage(100, MAX_TOKENS, 30, 50, requests=1)


async def test_a_json_answer_cut_short_is_charged_its_reservation(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    relay, _ = counted
    fake_model.set_scenario(Scenario([Scenario.cut_stream(), Scenario.run("ls")]))
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    with pytest.raises(httpx.RemoteProtocolError):
        await ask(relay, {"x-api-key": token}, stream=False)
    await asyncio.to_thread(wait_for, lambda: relay.usage("job-1").output_tokens, 10)
    assert relay.usage("job-1") == JobUsage(output_tokens=MAX_TOKENS, requests=1)


async def test_a_client_gone_mid_answer_is_charged_its_reservation(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """The container hangs up while the answer streams: the reservation is charged, and freed."""
    relay, _ = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    fake_model.api.hold_streams()
    transport = httpx.AsyncHTTPTransport(uds=str(relay.socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        body = json.dumps({**QUESTION, "stream": True})
        headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
        async with client.stream("POST", "/v1/messages", content=body, headers=headers) as answer:
            async for _ in answer.aiter_raw():
                break  # message_start has come: leave
    await asyncio.to_thread(wait_for, lambda: relay.usage("job-1").output_tokens == MAX_TOKENS, 10)
    fake_model.api.release_streams()
    assert relay.usage("job-1") == JobUsage(100, MAX_TOKENS, 30, 50, requests=1)


async def test_closing_a_job_mid_answer_charges_the_reservation(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """The job ends while an answer streams (its container killed): it ends with that charged."""
    relay, _ = counted
    token = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    fake_model.api.hold_streams()
    running = asyncio.create_task(ask(relay, {"x-api-key": token}))
    await asyncio.to_thread(wait_for, lambda: fake_model.api.held == 1, 10)
    assert relay.close_job("job-1") == JobUsage(100, MAX_TOKENS, 30, 50, requests=1)
    fake_model.api.release_streams()
    await running


async def test_two_jobs_in_one_pool_cannot_together_exceed_it(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """Each job has room of its own, but the day has 1,500 tokens: together they stop there."""
    relay, reasons = counted
    day = PoolShare("installation-7", 1_500)
    first = relay.open_job("job-1", model=MODEL, token_budget=100_000, pool=day)
    second = relay.open_job("job-2", model=MODEL, token_budget=100_000, pool=day)

    fake_model.api.hold_streams()
    running = asyncio.create_task(ask(relay, {"x-api-key": first}))
    await asyncio.to_thread(wait_for, lambda: fake_model.api.held == 1, 10)
    held = await ask(relay, {"x-api-key": second})  # 1,024 of the 1,500 are reserved
    assert_api_error(held, 429, "rate_limit_error", "held by model requests in flight")
    fake_model.api.release_streams()
    assert (await running).status_code == 200

    statuses = [
        (await ask(relay, {"x-api-key": token})).status_code
        for token in [second, first, second, first]
    ]
    assert statuses == [200, 200, 200, 400]  # 4 x 155 spent: 880 left, less than 1,024
    assert reasons == ["budget_in_flight", "day_budget_spent"]
    spent = relay.close_job("job-1") + relay.close_job("job-2")
    assert spent == JobUsage(*(4 * n for n in (100, 20, 30, 50)), requests=4)
    assert len(fake_model.requests) == 4


async def test_a_job_opened_later_never_raises_what_the_pool_has_left(
    counted: tuple[ModelRelay, list[str]], fake_model: FakeModel
) -> None:
    """A job joining with a stale, larger figure does not lift the pool's figure."""
    relay, _ = counted
    first = relay.open_job("job-1", model=MODEL, token_budget=100_000, pool=PoolShare("day", 1_200))
    assert (await ask(relay, {"x-api-key": first})).status_code == 200  # 155 spent
    relay.open_job("job-2", model=MODEL, token_budget=100_000, pool=PoolShare("day", 50_000))
    assert (await ask(relay, {"x-api-key": first})).status_code == 200  # 310 spent
    response = await ask(relay, {"x-api-key": first})
    assert_api_error(response, 400, "invalid_request_error", "left for today (890 tokens)")
    assert relay.usage("job-1") == ONE_ANSWER + ONE_ANSWER
