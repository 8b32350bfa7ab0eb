"""The relay's request rules as a pure function: a request and the job's rules in, a decision out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.relay_rules import (
    BETA_NOT_ALLOWED,
    BODY_TOO_LARGE,
    FETCHED_SOURCE,
    FIELD_NOT_ALLOWED,
    INVALID_BODY,
    MAX_TOKENS,
    MCP_SERVERS,
    MODEL_NOT_ALLOWED,
    SERVER_TOOL,
    Forward,
    JobRules,
    Refusal,
    check_request,
    too_large,
)
from sandbox.relay_traffic import DEFAULT_MODEL, MODEL_ALIASES, model_sent_for

MODEL = "claude-sonnet-4-5"
RULES = JobRules(models=frozenset({MODEL}), max_tokens=32_000)
# The shape of the pinned CLI's own requests (read from its traffic), without the bulk.
CLI_BODY: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Fix the bug."}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [
                        {"type": "text", "text": "ok"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
                        },
                    ],
                }
            ],
        },
    ],
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
    ],
    "tools": [
        {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}},
        {
            "name": "DeferredToolPlaceholder",
            "input_schema": {"type": "object"},
            "defer_loading": True,
        },
    ],
    "metadata": {"user_id": '{"device_id":"d","session_id":"s"}'},
    "max_tokens": 32_000,
    "thinking": {"budget_tokens": 31_999, "type": "enabled", "display": "updates"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "stream": True,
}
CLI_HEADERS = [
    ("host", "127.0.0.1:8377"),
    ("accept", "application/json"),
    ("content-type", "application/json"),
    ("user-agent", "claude-cli/2.1.332 (external, sdk-cli)"),
    ("x-claude-code-session-id", "84af8672"),
    ("x-stainless-os", "Linux"),
    ("x-stainless-retry-count", "0"),
    ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
    ("anthropic-dangerous-direct-browser-access", "true"),
    ("anthropic-version", "2023-06-01"),
    ("x-app", "cli"),
    ("x-api-key", "fwcap-capability"),
    ("cookie", "a=b"),
]


def decide(
    body: dict[str, Any] | bytes,
    *,
    headers: list[tuple[str, str]] = CLI_HEADERS,
    path: str = "/v1/messages",
    query: str = "beta=true",
    rules: JobRules = RULES,
) -> Forward | Refusal:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return check_request(path, query, raw, headers, rules)


def refused(decision: Forward | Refusal, reason: str, words: str) -> None:
    assert isinstance(decision, Refusal), decision
    assert (decision.reason, decision.status, decision.error_type) == (
        reason,
        400,
        "invalid_request_error",
    )
    assert decision.message.startswith("fixwright: the model relay refused this request: ")
    assert words in decision.message


def test_the_clis_own_request_passes_with_only_the_headers_the_api_needs() -> None:
    """A request shaped like the CLI's passes; its SDK and session headers and credentials stay home."""
    decision = decide(CLI_BODY)
    assert decision == Forward(
        headers=[
            ("accept", "application/json"),
            ("content-type", "application/json"),
            ("user-agent", "claude-cli/2.1.332 (external, sdk-cli)"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
        ],
        model=MODEL,
        max_tokens=32_000,
    )


def test_mcp_servers_are_refused() -> None:
    """`mcp_servers` would have the provider connect to any URL the container names."""
    body = {**CLI_BODY, "mcp_servers": [{"type": "url", "url": "https://evil.example/mcp"}]}
    headers = [*CLI_HEADERS, ("anthropic-beta", "mcp-client-2025-04-04")]
    refused(decide(body, headers=headers), MCP_SERVERS, "`mcp_servers`")


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_fetch_20250910", "name": "web_fetch"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"type": "mcp_toolset", "mcp_server_name": "evil"},
        {"type": "bash_20250124", "name": "bash"},
    ],
)
def test_server_and_anthropic_defined_tools_are_refused(tool: dict[str, Any]) -> None:
    """Any tool whose type is not custom runs at the provider (or is not the CLI's): refused."""
    body = {**CLI_BODY, "tools": [*CLI_BODY["tools"], tool]}
    refused(decide(body), SERVER_TOOL, f"has type {tool['type']!r}")


def test_a_custom_tool_passes_whether_or_not_it_says_so() -> None:
    """`type: custom` and no type at all are both Claude Code's own tools."""
    tools = [
        {"type": "custom", "name": "Bash", "input_schema": {}},
        {"name": "Read", "input_schema": {}},
    ]
    assert isinstance(decide({**CLI_BODY, "tools": tools}), Forward)


@pytest.mark.parametrize(
    "source",
    [
        {"type": "url", "url": "https://evil.example/?d=SECRET"},
        {"type": "file", "file_id": "file_011"},
    ],
)
def test_content_the_provider_would_fetch_is_refused_however_deep(source: dict[str, Any]) -> None:
    """An image or document by URL (or an operator's file) anywhere in the conversation is refused."""
    nested = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [
            {
                "type": "document",
                "source": {"type": "content", "content": [{"type": "image", "source": source}]},
            }
        ],
    }
    body = {**CLI_BODY, "messages": [*CLI_BODY["messages"], {"role": "user", "content": [nested]}]}
    refused(decide(body), FETCHED_SOURCE, f"a {source['type']!r} source")
    system = {**CLI_BODY, "system": [{"type": "document", "source": source}]}
    refused(decide(system), FETCHED_SOURCE, "source")


def test_a_tool_calls_arguments_are_data_not_content() -> None:
    """What the model passed a tool is never fetched, so a URL-shaped argument does not refuse."""
    call = {
        "type": "tool_use",
        "id": "t",
        "name": "Write",
        "input": {"source": {"type": "url", "url": "x"}},
    }
    body = {
        **CLI_BODY,
        "messages": [*CLI_BODY["messages"], {"role": "assistant", "content": [call]}],
    }
    assert isinstance(decide(body), Forward)


@pytest.mark.parametrize("key", ["container", "service_tier", "speed", "betas", "top_k"])
def test_fields_the_cli_does_not_send_are_refused_by_name(key: str) -> None:
    """Only the CLI's top-level fields pass; `container` (code execution) among those refused."""
    refused(decide({**CLI_BODY, key: "x"}), FIELD_NOT_ALLOWED, repr(key))


def test_another_model_is_refused_and_the_allowed_ones_are_named() -> None:
    """A model not the job's own (or the operator's list) is refused, saying which may be used."""
    rules = JobRules(models=frozenset({MODEL, "claude-haiku-4-5"}), max_tokens=32_000)
    refused(
        decide({**CLI_BODY, "model": "claude-opus-4-1"}, rules=rules),
        MODEL_NOT_ALLOWED,
        "model 'claude-opus-4-1' is not one this job may use (claude-haiku-4-5, claude-sonnet-4-5)",
    )
    assert isinstance(decide({**CLI_BODY, "model": "claude-haiku-4-5"}, rules=rules), Forward)
    refused(decide({**CLI_BODY, "model": ["x"]}), MODEL_NOT_ALLOWED, "model")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (32_001, "max_tokens 32,001 is over this job's cap of 32,000"),
        (10**12, "is over this job's cap"),
        (0, "must be a positive whole number"),
        (True, "must be a positive whole number"),
        ("32000", "must be a positive whole number"),
        (None, "must be a positive whole number"),
    ],
)
def test_max_tokens_over_the_cap_or_not_a_count_is_refused(value: Any, words: str) -> None:
    """max_tokens must be a whole number from 1 to the cap (missing is refused too)."""
    body = {**CLI_BODY, "max_tokens": value}
    if value is None:
        del body["max_tokens"]
    refused(decide(body), MAX_TOKENS, words)


def test_count_tokens_needs_no_max_tokens_and_reserves_nothing() -> None:
    """The token count spends nothing, so it reserves nothing, but it passes the same rules."""
    body = {key: value for key, value in CLI_BODY.items() if key not in ("max_tokens", "stream")}
    decision = decide(body, path="/v1/messages/count_tokens")
    assert isinstance(decision, Forward) and decision.max_tokens == 0
    refused(
        decide({**body, "mcp_servers": []}, path="/v1/messages/count_tokens"), MCP_SERVERS, "MCP"
    )


def test_a_beta_the_cli_does_not_send_is_refused() -> None:
    """Each `anthropic-beta` value, in one header or several, must be one the pinned CLI sends."""
    headers = [*CLI_HEADERS, ("Anthropic-Beta", " files-api-2025-04-14 , effort-2025-11-24")]
    refused(decide(CLI_BODY, headers=headers), BETA_NOT_ALLOWED, "'files-api-2025-04-14'")


def test_a_query_other_than_the_sdks_is_refused() -> None:
    """`?beta=true` (or none) passes; anything else in the query is not the CLI's."""
    assert isinstance(decide(CLI_BODY, query=""), Forward)
    refused(decide(CLI_BODY, query="beta=true&x=1"), FIELD_NOT_ALLOWED, "query")


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b'"text"', b"[" * 100_000 + b"]" * 100_000]
)
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    """Junk, a non-object, or nesting deep enough to break a recursive parser: a clear 400."""
    refused(decide(raw), INVALID_BODY, "not a JSON object")


def test_tools_that_are_not_a_list_of_objects_are_refused() -> None:
    refused(decide({**CLI_BODY, "tools": {"name": "Bash"}}), INVALID_BODY, "`tools`")


def test_names_quoted_back_are_cut_short() -> None:
    """What the container named is quoted back at most 60 characters long, five names at most."""
    body = {**CLI_BODY, **{f"{'k' * 200}{n}": 1 for n in range(9)}}
    decision = decide(body)
    assert isinstance(decision, Refusal)
    assert "k" * 61 not in decision.message and "and 4 more" in decision.message


def test_a_body_too_large_is_a_413_in_the_apis_shape() -> None:
    assert too_large(1024) == Refusal(
        BODY_TOO_LARGE,
        413,
        "request_too_large",
        "fixwright: the model relay takes request bodies of at most 1,024 bytes",
    )


def test_the_model_the_cli_names_follows_its_aliases_and_default() -> None:
    """No model is the CLI's default; its aliases become the names it sends; full names stay."""
    assert model_sent_for("") == DEFAULT_MODEL
    assert model_sent_for(" Sonnet ") == MODEL_ALIASES["sonnet"]
    assert model_sent_for("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5-20250929"
