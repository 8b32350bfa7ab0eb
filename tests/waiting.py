"""Waiting for a condition with a deadline: tests wait for events, never for a length of time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until `condition()` is truthy (the service works asynchronously after its 202)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


async def wait_until(
    condition: Callable[[], Any], within: float = 10.0, interval: float = 0.01
) -> Any:
    """`wait_for` on the event loop: poll `condition()` (awaited if it is a coroutine) without
    blocking the loop; `interval` 0 polls again at the next loop turn."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")
