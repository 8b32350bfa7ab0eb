"""The model relay over its real Unix socket, in front of the fake model API."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from sandbox.relay import ModelRelay, RelayThread
from sandbox.usage import JobUsage, UsageMeter
from tests.fakes.model.fixtures import FakeModel
from tests.fakes.model.scenario import Scenario, Usage

MODEL = "claude-sonnet-4-5"
QUESTION: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Fix the failing test."}],
    "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
}
# What the fake reports per answer by default: 100 in, 20 out, 30 cache writes, 50 cache reads.
ONE_ANSWER = JobUsage(100, 20, 30, 50, requests=1)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short directory for sockets (a Unix socket path must fit in 108 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="fwrelay-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def relay(fake_model: FakeModel, socket_dir: Path) -> AsyncIterator[ModelRelay]:
    """A relay on a real socket, forwarding to the fake model with the fake's real key."""
    model_relay = ModelRelay(
        socket_path=socket_dir / "relay" / "model.sock",
        upstream_url=fake_model.url,
        api_key=fake_model.api_key,
    )
    await model_relay.start()
    yield model_relay
    await model_relay.stop()


async def ask(
    relay: ModelRelay,
    headers: dict[str, str],
    *,
    body: dict[str, Any] | None = None,
    stream: bool = True,
    method: str = "POST",
    path: str = "/v1/messages",
) -> httpx.Response:
    """Send one request to the relay over its Unix socket, as the container's CLI would."""
    transport = httpx.AsyncHTTPTransport(uds=str(relay.socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
        content = json.dumps({**(body or QUESTION), "stream": stream})
        return await client.request(
            method,
            path,
            content=content if method == "POST" else None,
            headers={
                "anthropic-version": "2023-06-01",
                "content-type": "application/json",
                **headers,
            },
        )


def assert_api_error(response: httpx.Response, status: int, error_type: str, words: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert words in body["error"]["message"]


async def test_the_relay_swaps_the_capability_for_the_real_key(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """The model API sees only the real key; the container only ever holds its capability."""
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    assert token.startswith("fwcap-") and fake_model.api_key not in token

    response = await ask(relay, {"x-api-key": token, "anthropic-beta": "claude-code-20250219"})

    assert response.status_code == 200
    seen = fake_model.requests[-1]
    assert seen.headers["x-api-key"] == fake_model.api_key
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["anthropic-beta"] == "claude-code-20250219"
    assert token not in json.dumps(seen.headers)
    assert seen.body == {**QUESTION, "stream": True}
    assert fake_model.api_key not in response.text
    assert fake_model.api_key not in json.dumps(dict(response.headers))


async def test_a_bearer_capability_works_and_no_credential_reaches_the_upstream(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """`Authorization: Bearer <capability>` is accepted too, and stripped with cookies."""
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    response = await ask(relay, {"authorization": f"Bearer {token}", "cookie": "session=abc"})
    assert response.status_code == 200
    seen = fake_model.requests[-1].headers
    assert "authorization" not in seen and "cookie" not in seen
    assert seen["x-api-key"] == fake_model.api_key


async def test_a_streamed_answer_comes_back_byte_for_byte(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """The SSE body, status and content type the CLI gets are exactly what the model API sent."""
    fake_model.set_scenario(Scenario([Scenario.run("pytest -q"), Scenario.say("Done.")]))
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)

    response = await ask(relay, {"x-api-key": token})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["request-id"] == "req_0001fake"
    assert response.content == fake_model.api.answers[-1]
    assert b'"partial_json"' in response.content and b"event: message_stop" in response.content


async def test_a_json_answer_comes_back_unchanged_and_is_counted(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """A non-streamed answer passes through as is, and its `usage` is counted for the job."""
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    response = await ask(relay, {"x-api-key": token}, stream=False)
    assert response.status_code == 200
    assert response.content == fake_model.api.answers[-1]
    assert response.json()["usage"]["input_tokens"] == 100
    assert relay.usage("job-1") == ONE_ANSWER


async def test_tokens_are_counted_per_job(relay: ModelRelay, fake_model: FakeModel) -> None:
    """Concurrent jobs each get their own count, and closing a job returns its final usage."""
    fake_model.set_scenario(Scenario(usage=Usage(1000, 200, 0, 4000)))
    first = relay.open_job("job-1", model=MODEL, token_budget=100_000)
    second = relay.open_job("job-2", model=MODEL, token_budget=100_000)

    await asyncio.gather(
        ask(relay, {"x-api-key": first}),
        ask(relay, {"x-api-key": first}, stream=False),
        ask(relay, {"x-api-key": second}),
    )

    assert relay.usage("job-2") == JobUsage(1000, 200, 0, 4000, requests=1)
    used = relay.close_job("job-1")
    assert used == JobUsage(2000, 400, 0, 8000, requests=2)
    assert (used.total, used.budgeted) == (10_400, 2_400 + 800)


async def test_count_tokens_is_forwarded_but_spends_nothing(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """The free token-counting endpoint passes through and adds only a request to the count."""
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    response = await ask(relay, {"x-api-key": token}, path="/v1/messages/count_tokens")
    assert response.status_code == 200
    assert response.json()["input_tokens"] > 0
    assert fake_model.requests[-1].path == "/v1/messages/count_tokens"
    assert relay.usage("job-1") == JobUsage(requests=1)


async def test_an_unknown_capability_is_refused(relay: ModelRelay, fake_model: FakeModel) -> None:
    """A made-up or missing token gets a 401 in the API's shape and never reaches the model."""
    relay.open_job("job-1", model=MODEL, token_budget=10_000)
    for headers in ({"x-api-key": "fwcap-guessed"}, {"x-api-key": fake_model.api_key}, {}):
        response = await ask(relay, headers)
        assert_api_error(response, 401, "authentication_error", "this job has ended")
    assert fake_model.requests == []


async def test_a_closed_job_capability_is_dead(relay: ModelRelay, fake_model: FakeModel) -> None:
    """Once the job ends its token is refused, though it worked a moment before."""
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    assert (await ask(relay, {"x-api-key": token})).status_code == 200
    relay.close_job("job-1")
    response = await ask(relay, {"x-api-key": token})
    assert_api_error(response, 401, "authentication_error", "this job has ended")
    assert len(fake_model.requests) == 1
    with pytest.raises(KeyError):
        relay.usage("job-1")


async def test_reopening_a_job_revokes_its_earlier_capability(relay: ModelRelay) -> None:
    """A job opened again gets a new token, and the old one stops working."""
    old = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    new = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    assert old != new
    assert (await ask(relay, {"x-api-key": old})).status_code == 401
    assert (await ask(relay, {"x-api-key": new})).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("POST", "/v1/complete"),
        ("HEAD", "/"),
        ("GET", "/v1/messages"),
        ("POST", "/v1/messages/batches"),
        ("POST", "/v1/files"),
    ],
)
async def test_paths_other_than_the_model_api_are_not_found(
    relay: ModelRelay, fake_model: FakeModel, method: str, path: str
) -> None:
    """Even with a valid capability, the container reaches nothing but the Messages API."""
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    response = await ask(relay, {"x-api-key": token}, method=method, path=path)
    assert response.status_code == 404
    if method != "HEAD":
        assert_api_error(response, 404, "not_found_error", "only passes POST /v1/messages")
    assert fake_model.requests == []


async def test_a_job_over_budget_is_refused_with_a_final_error(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """Once what is left cannot cover a request's max_tokens, it gets a 400 the CLI does not retry."""
    # One answer charges 100 + 20 + 30 + 50 // 10 = 155 tokens: cache reads count a tenth.
    # Each request reserves its max_tokens (1024): this budget covers two requests, not three.
    token = relay.open_job("job-1", model=MODEL, token_budget=1024 + 155 + 100)
    assert (await ask(relay, {"x-api-key": token})).status_code == 200
    assert (await ask(relay, {"x-api-key": token})).status_code == 200

    response = await ask(relay, {"x-api-key": token})

    assert_api_error(
        response,
        400,
        "invalid_request_error",
        "this job's token budget of 1,279 tokens cannot cover this request's max_tokens of 1,024",
    )
    assert response.headers["x-should-retry"] == "false"
    assert len(fake_model.requests) == 2
    assert relay.close_job("job-1") == ONE_ANSWER + ONE_ANSWER


async def test_a_spent_job_is_refused_even_what_spends_nothing(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """Once counted tokens reach the budget, even a token count is refused, with a final 400."""
    fake_model.set_scenario(Scenario(usage=Usage(2000, 0, 0, 0)))
    token = relay.open_job("job-1", model=MODEL, token_budget=1024)
    assert (await ask(relay, {"x-api-key": token})).status_code == 200

    response = await ask(relay, {"x-api-key": token}, path="/v1/messages/count_tokens")

    assert_api_error(
        response, 400, "invalid_request_error", "token budget of 1,024 tokens is spent"
    )
    assert len(fake_model.requests) == 1


async def test_each_job_may_carry_its_own_key(fake_model: FakeModel, socket_dir: Path) -> None:
    """A job opened with its own key uses it; the operator's key is the default otherwise."""
    model_relay = ModelRelay(
        socket_path=socket_dir / "model.sock", upstream_url=fake_model.url, api_key="sk-operator"
    )
    await model_relay.start()
    try:
        own = model_relay.open_job(
            "own", model=MODEL, token_budget=10_000, api_key=fake_model.api_key
        )
        default = model_relay.open_job("default", model=MODEL, token_budget=10_000)
        assert (await ask(model_relay, {"x-api-key": own})).status_code == 200
        refused = await ask(model_relay, {"x-api-key": default})
    finally:
        await model_relay.stop()
    # The upstream's own 401 passes through, marked final: only the operator can fix the key.
    assert_api_error(refused, 401, "authentication_error", "invalid x-api-key")
    assert refused.content == fake_model.api.answers[-1]
    assert refused.headers["x-should-retry"] == "false"
    assert [r.headers["x-api-key"] for r in fake_model.requests] == [
        fake_model.api_key,
        "sk-operator",
    ]


async def test_upstream_errors_pass_through_and_are_not_charged(
    relay: ModelRelay, fake_model: FakeModel
) -> None:
    """An overloaded model API's 529 reaches the CLI unchanged (so it retries) and costs no tokens."""
    fake_model.set_scenario(Scenario([Scenario.overloaded(times=None)]))
    token = relay.open_job("job-1", model=MODEL, token_budget=10_000)
    response = await ask(relay, {"x-api-key": token})
    assert_api_error(response, 529, "overloaded_error", "Overloaded")
    assert "x-should-retry" not in response.headers
    assert relay.usage("job-1") == JobUsage(requests=1)


async def test_an_unreachable_upstream_is_a_502_without_secrets(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the model API down the CLI gets a clear 502; neither key nor password leaks anywhere."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    real_key = "sk-ant-api03-" + "k" * 90
    model_relay = ModelRelay(
        socket_path=socket_dir / "model.sock",
        upstream_url=f"http://gateway-user:gateway-password@127.0.0.1:{port}",
        api_key=real_key,
    )
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logged:
        await model_relay.start()
        try:
            token = model_relay.open_job("job-1", model=MODEL, token_budget=10_000)
            response = await ask(model_relay, {"x-api-key": token})
        finally:
            await model_relay.stop()

    assert_api_error(response, 502, "api_error", f"model API at http://127.0.0.1:{port}")
    assert "could not be reached (ConnectError)" in response.json()["error"]["message"]
    shown = response.text + caplog.text + repr(logged) + repr(model_relay)
    assert real_key not in shown and "gateway-password" not in shown
    assert any(event["event"] == "relay_upstream_unreachable" for event in logged)


async def test_the_socket_is_open_to_the_container_user_and_removed_on_stop(
    relay: ModelRelay,
) -> None:
    """The socket is mode 0666 in a 0755 directory, so a non-root agent can connect; stop removes it."""
    mode = relay.socket_path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o666
    assert stat.S_IMODE(relay.socket_path.parent.stat().st_mode) == 0o755
    await relay.stop()
    assert not relay.socket_path.exists()


def test_a_relay_thread_serves_synchronous_callers(fake_model: FakeModel, socket_dir: Path) -> None:
    """`RelayThread` runs the relay on its own loop so blocking code can open jobs and use it."""
    path = socket_dir / "model.sock"
    thread = RelayThread(socket_path=path, upstream_url=fake_model.url, api_key=fake_model.api_key)
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(path)))
    with thread as model_relay, client:
        for attempt in range(20):
            token = model_relay.open_job(f"job-{attempt}", model=MODEL, token_budget=10_000)
            response = client.post(
                "http://relay/v1/messages",
                json={**QUESTION, "stream": attempt % 2 == 1},
                headers={"x-api-key": token, "anthropic-version": "2023-06-01"},
            )
            assert response.status_code == 200
            # Closed the moment the answer is read, the job is still charged for it.
            assert model_relay.close_job(f"job-{attempt}") == ONE_ANSWER
    assert not path.exists()


def test_a_socket_path_too_long_for_the_kernel_is_named() -> None:
    """A path over the Unix socket limit fails at start with an error that says so."""
    too_long = Path("/tmp") / ("d" * 120) / "model.sock"
    with (
        pytest.raises(ValueError, match="too long"),
        RelayThread(socket_path=too_long, upstream_url="http://127.0.0.1:9", api_key="k"),
    ):
        pass


# The usage meter on its own: streamed usage split anywhere still adds up.

STREAM = (
    b"event: message_start\r\n"
    b'data: {"type":"message_start","message":{"usage":{"input_tokens":10,'
    b'"cache_creation_input_tokens":3,"cache_read_input_tokens":40,"output_tokens":1}}}\r\n\r\n'
    b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n'
    b'event: content_block_delta\r\ndata: {"type":"content_block_delta","delta":'
    b'{"type":"text_delta","text":"usage: {\\"output_tokens\\": 999}"}}\r\n\r\n'
    b'event: message_delta\r\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\r\n\r\n'
    b'event: message_delta\r\ndata: {"type":"message_delta","usage":{"input_tokens":12,'
    b'"output_tokens":9}}\r\n\r\n'
    b'event: message_stop\r\ndata: {"type":"message_stop"}'
)


def test_streamed_usage_adds_up_however_the_bytes_are_split() -> None:
    """Running totals in message_delta replace earlier figures; chunk boundaries do not matter."""
    expected = JobUsage(12, 9, 3, 40)
    for size in (1, 7, 64, len(STREAM)):
        meter = UsageMeter("text/event-stream")
        counted = JobUsage()
        for start in range(0, len(STREAM), size):
            counted += meter.feed(STREAM[start : start + size])
        assert counted + meter.finish() == expected


def test_a_json_body_is_counted_once_it_ends() -> None:
    """A JSON answer's usage is read when the body is complete; bodies without usage count zero."""
    meter = UsageMeter("application/json")
    body = b'{"usage": {"input_tokens": 5, "output_tokens": 2}}'
    assert meter.feed(body) == JobUsage()
    assert meter.finish() == JobUsage(5, 2, 0, 0)
    for junk in (b"not json", b'{"input_tokens": 9}', b'{"usage": {"input_tokens": true}}'):
        other = UsageMeter("application/json")
        other.feed(junk)
        assert other.finish() == JobUsage()
