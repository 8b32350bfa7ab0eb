"""uvicorn with a graceful shutdown: refuse new deliveries, let running jobs finish, then exit."""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn

from app.log import get_logger
from app.web import FrontDoor


class DrainingServer(uvicorn.Server):
    """The first SIGTERM or SIGINT drains (503 to deliveries, jobs get a grace period); a second exits now.

    Deliveries answered 503 are failures in GitHub's log, which the reconciler asks for again once
    the service is back; jobs that outlive the grace period are put back in the queue.
    """

    def __init__(self, config: uvicorn.Config, app: FrontDoor, grace_seconds: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace = grace_seconds
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None or not hasattr(self._app.state, "service"):
            self.should_exit = True
            self.force_exit = self._draining  # a second signal: stop waiting
            return
        self._draining = True
        get_logger().info("service.stopping", signal=sig, grace_seconds=self._grace)
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._app.state.service.pool.drain(self._grace)
        finally:
            self.should_exit = True
