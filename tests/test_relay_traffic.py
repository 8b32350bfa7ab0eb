"""The pinned CLI's own traffic passes the relay's allow-lists untouched, whichever model it is given.

When the CLI is upgraded and sends something new, these fail and say what to add to
sandbox/relay_traffic.py (after checking that it reaches nothing outside the model).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.config import Settings
from sandbox.image import CLAUDE_CODE_VERSION
from sandbox.relay_traffic import BETAS, BODY_KEYS, READ_FROM_VERSION, model_sent_for
from sandbox.runner import Outcome
from tests.fakes.model.fixtures import FakeModel
from tests.fakes.model.scenario import Scenario

NOTES = "/workspace/notes.txt"
WORK = Scenario(
    [
        Scenario.run("echo hello", "Say hello"),
        Scenario.write_file(NOTES, "first\n"),
        Scenario.read(NOTES),
        Scenario.edit_file(NOTES, "first", "second"),
        Scenario.say("Done."),
    ]
)


def test_the_lists_were_read_from_the_pinned_version() -> None:
    """A new CLI version in the image needs its traffic read again before it ships."""
    assert READ_FROM_VERSION == CLAUDE_CODE_VERSION


@pytest.mark.docker
@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "", "sonnet", "haiku"])
async def test_a_run_with_tool_calls_passes_whatever_the_model(
    fake_model: FakeModel, run_sandbox: Any, sandbox_settings: Settings, model: str
) -> None:
    """Every request of a run that uses tools reaches the model, under the model the CLI names."""
    fake_model.set_scenario(WORK)
    run = await run_sandbox(settings=replace(sandbox_settings, model=model))

    assert run.result.outcome is Outcome.SUCCESS, run.result.summary
    assert len(fake_model.tool_results) == 4
    seen = fake_model.requests
    assert len(seen) == 5
    for request in seen:
        betas = set(request.headers.get("anthropic-beta", "").split(","))
        assert betas <= BETAS, betas - BETAS
        assert set(request.body) <= BODY_KEYS, set(request.body) - BODY_KEYS
        assert request.body["model"] == model_sent_for(model)
        assert request.body["max_tokens"] == sandbox_settings.relay_max_tokens
