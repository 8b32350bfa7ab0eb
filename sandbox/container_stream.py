"""The container's attached stdio: the prompt in on stdin, stream-json events out of stdout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from enum import Enum
from typing import Any, Final

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.utils.socket import frames_iter

from sandbox.container import engine_id
from sandbox.stream import StreamEvent, parse_line

STDOUT, STDERR = 1, 2
STDERR_TAIL_BYTES = 4000


class End(Enum):
    """Queued once the output has ended (a member of its own type, so `item is END` narrows)."""

    END = "end"


END: Final = End.END
# What the reading thread queues: each event as its line completes, then END.
Queued = StreamEvent | End


class ContainerStream:
    """The container's attached stdio: the prompt goes in on stdin, stream-json comes out."""

    def __init__(
        self,
        client: docker.DockerClient,
        container: Container,
        prompt: str,
        on_output: Callable[[], object] | None = None,
        max_line_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._client = client
        self._container = container
        self._prompt = prompt.encode()
        self._lines = LineSplitter(max_line_bytes)
        # Called in the reading thread on each piece of stdout, while the container still runs.
        self._on_output = on_output
        self._socket: Any = None
        self._stderr = bytearray()

    def start(self) -> None:
        """Attach before starting (so no output is missed), start, send the prompt, close stdin."""
        self._socket = self._client.api.attach_socket(
            engine_id(self._container), params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        self._container.start()
        raw = _raw_socket(self._socket)
        with contextlib.suppress(OSError):  # a CLI that died at once is reported by its exit
            raw.sendall(self._prompt)
            raw.shutdown(socket.SHUT_WR)

    def read_events(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Queued]) -> None:
        """Parse stdout line by line, queueing events on the loop as soon as each line is whole."""
        try:
            for stream_id, data in frames_iter(self._socket, tty=False):
                if stream_id == STDERR:
                    self._stderr = (self._stderr + data)[-STDERR_TAIL_BYTES:]
                    continue
                if self._on_output is not None:
                    self._on_output()
                for line in self._lines.feed(data):
                    self._queue_line(line, loop, queue)
            self._queue_line(self._lines.rest(), loop, queue)
        except (OSError, ValueError):
            pass  # the socket was closed under us: the container is being killed or removed
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, END)

    def _queue_line(
        self, line: bytes, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Queued]
    ) -> None:
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            return
        for event in parse_line(text):
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def kill(self) -> None:
        """Stop the container now (the wall-clock timeout)."""
        with contextlib.suppress(NotFound, APIError):
            self._container.kill()

    def close(self) -> None:
        """Close the attach socket, which ends `read_events`."""
        attached, self._socket = self._socket, None
        if attached is None:
            return
        raw = _raw_socket(attached)
        with contextlib.suppress(OSError):
            if raw is not None:
                raw.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            attached.close()

    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", errors="replace")

    @property
    def dropped_lines(self) -> int:
        return self._lines.dropped


class LineSplitter:
    """Cuts output into lines, holding at most `max_bytes` of one: a longer line is dropped whole
    (and counted), so a CLI that never ends a line cannot make the host buffer without bound."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.dropped = 0
        self._pending = bytearray()
        self._overlong = False  # inside a line already dropped: skip up to its newline

    def feed(self, data: bytes) -> list[bytes]:
        """The lines `data` completes (without their newlines)."""
        *complete, rest = data.split(b"\n")
        lines = []
        for part in complete:
            if not self._overlong and len(self._pending) + len(part) <= self.max_bytes:
                lines.append(bytes(self._pending + part))
            elif not self._overlong:
                self.dropped += 1
            self._pending.clear()
            self._overlong = False
        if self._overlong:
            return lines
        if len(self._pending) + len(rest) > self.max_bytes:
            self.dropped += 1
            self._overlong = True
            self._pending.clear()
        else:
            self._pending += rest
        return lines

    def rest(self) -> bytes:
        """What is left after the last newline (the last line, when the output ends without one)."""
        return b"" if self._overlong else bytes(self._pending)


def _raw_socket(attached: Any) -> socket.socket:
    """docker-py hands back a SocketIO wrapper for Unix sockets; writes need the socket itself."""
    return getattr(attached, "_sock", attached)
