"""Shared fixtures: keys, settings, Docker. Fakes live in tests/fakes and register their own fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fakes.github.fixtures",
    "tests.fakes.github.ghes",
    "tests.fakes.model.fixtures",
    "tests.fixtures.service",
    "tests.fixtures.docker",
    "tests.fixtures.engines",
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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL on each engine: a SQLite file in the test's directory, or a fresh database
    of its own on the PostgreSQL server tests/setup.sh provides (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'fixwright.db'}"
        return
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url
