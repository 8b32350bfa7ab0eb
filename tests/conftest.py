"""Shared fixtures: keys, settings, Docker. Fakes live in tests/fakes and register their own fixtures."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fakes.github.fixtures",
    "tests.fakes.github.ghes",
    "tests.fakes.model.fixtures",
    "tests.fixtures.service",
    "tests.fixtures.docker",
    "tests.fixtures.sandbox",
    "tests.fixtures.inprocess",
    "tests.fixtures.environments",
    "tests.fixtures.service_image",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Docker tests skip on a laptop without an engine, but CI (FIXWRIGHT_REQUIRE_DOCKER=1) runs them."""
    del config
    if os.environ.get("FIXWRIGHT_REQUIRE_DOCKER") == "1":
        return
    from tests.fixtures.docker import docker_available

    if docker_available():
        return
    skip = pytest.mark.skip(
        reason="no Docker engine (set FIXWRIGHT_REQUIRE_DOCKER=1 to fail instead)"
    )
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)
