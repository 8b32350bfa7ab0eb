"""The start-up warm-up covers every GitHub call the service makes, and loads their models."""

from __future__ import annotations

import re
from pathlib import Path

from app.github_warmup import CALLS, warm_up_github

ROOT = Path(__file__).resolve().parent.parent
REST_CALL = re.compile(r"rest\.([a-z_]+)\.(async_[a-z_]+)")


def test_every_rest_call_in_the_code_is_warmed_up() -> None:
    """A call added to a handler without adding it to CALLS would stall the first job again."""
    used = {
        match.groups()
        for folder in ("app", "handlers", "sandbox")
        for path in (ROOT / folder).rglob("*.py")
        for match in REST_CALL.finditer(path.read_text())
    }
    assert used, "the scan found no REST call: the pattern no longer matches the code"
    assert used <= set(CALLS), f"not warmed up: {sorted(used - set(CALLS))}"


def test_the_warm_up_loads_the_response_models_of_those_calls() -> None:
    """Each call resolves in githubkit (a renamed one fails here), and their models load."""
    assert warm_up_github() >= 15
