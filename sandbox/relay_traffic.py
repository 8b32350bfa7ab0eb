"""What the pinned Claude Code CLI sends the model API: the relay passes this and nothing else.

Read from the CLI's real requests, through the relay to the scripted model: a plain run, runs
with tool calls and with a subagent, with a configured model, with each alias and with none.
`tests/test_relay_traffic.py` runs the pinned CLI again and fails when its requests leave these
lists or when `sandbox.image.CLAUDE_CODE_VERSION` moves on without them.
"""

from __future__ import annotations

# The CLI version the lists below were read from.
READ_FROM_VERSION = "2.1.332"

# Its `anthropic-beta` values: a Sonnet 4.5 sends the first six, its newer default models all nine.
BETAS = frozenset(
    {
        "claude-code-20250219",
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
        "thinking-token-count-2026-05-13",
        "advanced-tool-use-2025-11-20",
        "thinking-display-updates-2026-08-18",
        "per-turn-control-2026-07-01",
        "mid-conversation-tool-changes-2026-07-01",
        "effort-2025-11-24",
    }
)

# The top-level keys of its request bodies. `tool_choice` and `temperature` were not seen, but
# its request builder adds them for some requests, and neither reaches anything outside the model.
BODY_KEYS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "metadata",
        "max_tokens",
        "thinking",
        "context_management",
        "output_config",
        "stream",
        "tool_choice",
        "temperature",
    }
)

# The request headers the model API needs besides the key and the filtered `anthropic-beta`;
# the CLI's others (its SDK's platform details, a session id, `x-app`) are not passed on.
FORWARDED_HEADERS = ("content-type", "accept", "anthropic-version", "user-agent")

# The model it asks for when none is configured, and those it asks for when given an alias.
DEFAULT_MODEL = "claude-opus-5-5"
MODEL_ALIASES = {
    "default": DEFAULT_MODEL,
    "best": DEFAULT_MODEL,
    "opus": DEFAULT_MODEL,
    "sonnet": "claude-sonnet-5-5",
    "haiku": "claude-haiku-5-5",
}
# What it asks for as `max_tokens` is `CLAUDE_CODE_MAX_OUTPUT_TOKENS` when that is set (its thinking
# budget then stays below it), which the container sets to the relay's cap; unset, it asks for
# 32,000 with Sonnet 4.5 and 128,000 with its newer models.


def model_sent_for(configured: str) -> str:
    """The model the CLI names in its requests when told `configured` (empty: its default)."""
    name = configured.strip()
    if not name:
        return DEFAULT_MODEL
    return MODEL_ALIASES.get(name.lower(), name)
