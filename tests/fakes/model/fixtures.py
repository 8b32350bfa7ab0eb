"""Pytest plugin: the `fake_model` fixture, a scripted model API on a real port."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.fakes.model.scenario import Scenario
from tests.fakes.model.server import FakeModelAPI, RecordedRequest, SeenToolResult
from tests.fakes.model.threaded import serve_in_thread


def fake_api_key() -> str:
    """A random key shaped like a real one, so a leak of it is unmistakable in any output."""
    return "sk-ant-api03-" + secrets.token_urlsafe(70)[:93] + "AA"


@dataclass
class FakeModel:
    """A running fake model API: where it listens, its key, and what it saw."""

    url: str
    api: FakeModelAPI

    @property
    def api_key(self) -> str:
        return self.api.api_key

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.api.requests

    @property
    def tool_results(self) -> list[str]:
        return self.api.tool_results

    @property
    def tool_result_blocks(self) -> list[SeenToolResult]:
        return self.api.tool_result_blocks

    def set_scenario(self, scenario: Scenario) -> None:
        self.api.set_scenario(scenario)


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    """A fake model API on 127.0.0.1 with a fresh random key, playing `Scenario()` until told."""
    api = FakeModelAPI(fake_api_key())
    with serve_in_thread(api.app) as url:
        yield FakeModel(url, api)
