"""The relay's request rules, free of I/O: a request's body and headers and the job's rules in,
what to forward or why not out.

Only what Claude Code itself sends passes (sandbox/relay_traffic.py): anything that would have the
model provider reach out on the container's behalf (MCP servers, server tools, content fetched
from a URL), another model, more output than the cap, or a beta the CLI does not use is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.relay_traffic import BETAS, BODY_KEYS, FORWARDED_HEADERS, READ_FROM_VERSION

MESSAGES_PATH = "/v1/messages"  # the other, count_tokens, spends nothing and needs no max_tokens
# The client SDK asks for the beta endpoints with `?beta=true`.
QUERIES = frozenset({"", "beta=true"})
# A custom tool is Claude Code's own; any other type runs on the provider's side.
CUSTOM_TOOL_TYPES = frozenset({None, "custom"})
# Content the model API would fetch for the request (a URL) or read from the operator's files.
FETCHED_SOURCE_TYPES = frozenset({"url", "file"})
# Blocks whose `input` holds a tool's arguments: data the model API never fetches.
TOOL_CALL_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
# How much of a refused name is quoted back, and how many names: the text is the container's.
NAME_SHOWN = 60
NAMES_SHOWN = 5

# Why requests are refused: the values of the `reason` label of fixwright_relay_refusals_total.
BODY_TOO_LARGE = "body_too_large"
INVALID_BODY = "invalid_body"
MCP_SERVERS = "mcp_servers"
FIELD_NOT_ALLOWED = "field_not_allowed"
SERVER_TOOL = "server_tool"
FETCHED_SOURCE = "fetched_source"
MODEL_NOT_ALLOWED = "model_not_allowed"
MAX_TOKENS = "max_tokens"
BETA_NOT_ALLOWED = "beta_not_allowed"


@dataclass(frozen=True)
class JobRules:
    """What one job may ask of the model API."""

    models: frozenset[str]
    max_tokens: int


@dataclass(frozen=True)
class Forward:
    """A request that passes: the headers to send (without the key) and what it may spend."""

    headers: list[tuple[str, str]]
    model: str
    max_tokens: int  # reserved against the budgets before it is sent (0 for count_tokens)


@dataclass(frozen=True)
class Refusal:
    """A request that does not pass, in the model API's terms."""

    reason: str
    status: int
    error_type: str
    message: str


UNKNOWN_CAPABILITY = Refusal(
    "unknown_capability",
    401,
    "authentication_error",
    "fixwright: this job has ended or the token is not valid",
)


def too_large(limit: int) -> Refusal:
    return Refusal(
        BODY_TOO_LARGE,
        413,
        "request_too_large",
        f"fixwright: the model relay takes request bodies of at most {limit:,} bytes",
    )


def check_request(
    path: str, query: str, body: bytes, headers: Iterable[tuple[str, str]], rules: JobRules
) -> Forward | Refusal:
    """Whether this request to `path?query` may go to the model API, and as what."""
    headers = list(headers)
    betas = _betas(headers)
    parsed = _json_object(body)
    if isinstance(parsed, Refusal):
        return parsed
    refusal = (
        _check_query(query)
        or _check_keys(parsed)
        or _check_tools(parsed.get("tools"))
        or _check_sources(parsed)
        or _check_model(parsed.get("model"), rules)
        or _check_max_tokens(path, parsed.get("max_tokens"), rules)
        or _check_betas(betas)
    )
    if refusal is not None:
        return refusal
    max_tokens = parsed.get("max_tokens", 0) if path == MESSAGES_PATH else 0
    return Forward(forwarded_headers(headers, betas), parsed["model"], max_tokens)


def forwarded_headers(
    headers: Iterable[tuple[str, str]], betas: list[str]
) -> list[tuple[str, str]]:
    """The headers the model API needs, as the CLI sent them; the key is the relay's to add."""
    kept = [(name.lower(), value) for name, value in headers if name.lower() in FORWARDED_HEADERS]
    if betas:
        kept.append(("anthropic-beta", ",".join(betas)))
    return kept


def _betas(headers: list[tuple[str, str]]) -> list[str]:
    values = [value for name, value in headers if name.lower() == "anthropic-beta"]
    return [beta.strip() for value in values for beta in value.split(",") if beta.strip()]


def _json_object(body: bytes) -> dict[str, Any] | Refusal:
    try:
        # (orjson: twice as fast as json here, and it refuses nesting over 1,024 levels deep)
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        return Refusal(
            INVALID_BODY, 400, "invalid_request_error", _refused("the body is not a JSON object")
        )
    return parsed


def _check_query(query: str) -> Refusal | None:
    if query in QUERIES:
        return None
    return _invalid(FIELD_NOT_ALLOWED, f"its query {_name(query)} is not one Claude Code sends")


def _check_keys(body: dict[str, Any]) -> Refusal | None:
    if "mcp_servers" in body:
        return _invalid(
            MCP_SERVERS,
            "it names MCP servers (`mcp_servers`), which the model API would connect to",
        )
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        return _invalid(
            FIELD_NOT_ALLOWED, f"it has fields Claude Code does not send: {_names(unknown)}"
        )
    return None


def _check_tools(tools: Any) -> Refusal | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        return _invalid(INVALID_BODY, "`tools` is not a list of tool definitions")
    for tool in tools:
        if tool.get("type") not in CUSTOM_TOOL_TYPES:
            return _invalid(
                SERVER_TOOL,
                f"tool {_name(tool.get('name'))} has type {_name(tool.get('type'))}, which runs "
                "at the model provider; only Claude Code's own tools pass",
            )
    return None


def _check_sources(body: dict[str, Any]) -> Refusal | None:
    for block in _blocks(body.get("system"), body.get("messages")):
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") in FETCHED_SOURCE_TYPES:
            return _invalid(
                FETCHED_SOURCE,
                f"it has content with a {_name(source.get('type'))} source, which the model API "
                "would fetch; only content sent in the request passes",
            )
    return None


def _check_model(model: Any, rules: JobRules) -> Refusal | None:
    if isinstance(model, str) and model in rules.models:
        return None
    allowed = ", ".join(sorted(rules.models))
    return _invalid(
        MODEL_NOT_ALLOWED, f"model {_name(model)} is not one this job may use ({allowed})"
    )


def _check_max_tokens(path: str, value: Any, rules: JobRules) -> Refusal | None:
    if path != MESSAGES_PATH:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return _invalid(MAX_TOKENS, "`max_tokens` must be a positive whole number")
    if value > rules.max_tokens:
        return _invalid(
            MAX_TOKENS, f"max_tokens {value:,} is over this job's cap of {rules.max_tokens:,}"
        )
    return None


def _check_betas(betas: list[str]) -> Refusal | None:
    unknown = sorted(set(betas) - BETAS)
    if unknown:
        return _invalid(
            BETA_NOT_ALLOWED,
            f"anthropic-beta {_names(unknown)} is not one Claude Code {READ_FROM_VERSION} sends",
        )
    return None


def _blocks(*roots: Any) -> Iterator[dict[str, Any]]:
    """Every object nested under `roots`, walked without recursion (the depth is the sender's).

    A tool call's `input` is left out: those are the model's arguments to a tool, which the model
    API passes on as data and never fetches.
    """
    pending = [root for root in roots if isinstance(root, (dict, list))]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(value for value in item if isinstance(value, (dict, list)))
            continue
        yield item
        is_call = item.get("type") in TOOL_CALL_TYPES
        pending.extend(
            value
            for key, value in item.items()
            if isinstance(value, (dict, list)) and not (is_call and key == "input")
        )


def _invalid(reason: str, what: str) -> Refusal:
    return Refusal(reason, 400, "invalid_request_error", _refused(what))


def _refused(what: str) -> str:
    return f"fixwright: the model relay refused this request: {what}"


def _name(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text[:NAME_SHOWN] + ("…" if len(text) > NAME_SHOWN else ""))


def _names(values: list[str]) -> str:
    shown = ", ".join(_name(value) for value in values[:NAMES_SHOWN])
    more = len(values) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
