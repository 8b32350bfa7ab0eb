"""Logs: JSON lines with ids bound, and no secret ever printed."""

import io
import json

import structlog

from app.log import configure_logging, get_logger
from sandbox.redaction import redact_text

TOKENS = [
    "ghs_" + "A" * 36,
    "ghp_" + "b1" * 18,
    "github_pat_" + "11ABCDEFG0" * 8,
    "sk-ant-api03-" + "x" * 40,
]


def test_known_token_shapes_are_redacted_without_configuration() -> None:
    """Installation tokens, personal tokens and model keys are caught by shape."""
    for token in TOKENS:
        assert token not in redact_text(f"Authorization: token {token}")


def test_every_line_is_json_with_secrets_redacted_everywhere() -> None:
    """Configured secrets and token shapes vanish from messages, fields, nested values and errors."""
    out = io.StringIO()
    configure_logging(log_format="json", secrets=["my-webhook-secret"], stream=out)
    log = get_logger(delivery_id="d-1")
    log.info(
        "clone failed",
        url=f"https://x-access-token:{TOKENS[0]}@github.com/o/r.git",
        nested={"headers": [f"x-api-key: {TOKENS[3]}"]},
        error=RuntimeError("secret was my-webhook-secret"),
    )
    line = out.getvalue().strip()
    record = json.loads(line)
    assert record["delivery_id"] == "d-1"
    assert record["event"] == "clone failed"
    for secret in [*TOKENS, "my-webhook-secret"]:
        assert secret not in line
    structlog.reset_defaults()
