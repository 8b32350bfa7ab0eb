"""The workspace's disk use while the run goes on, and the watch that stops a run past its limit.

The agent can write as fast as the disk takes it (`fallocate`, `dd` in a loop), and the
workspace lives on the host's disk, so the host measures it every couple of seconds with the same
no-follow walk it reads it with, and kills the container once it holds more than it may.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.workspace_walk import DIRECTORY_FLAGS, MAX_DEPTH, megabytes

WATCH_SECONDS = 2.0
# A large tree takes a while to measure: the watch then waits a few times as long between looks.
WATCH_BACKOFF = 4.0


@dataclass(frozen=True)
class DiskUse:
    """What a tree holds on disk, counted until it passes the limits it was measured against."""

    bytes: int
    entries: int
    too_deep: bool = False


def measure_disk_use(root: Path, *, max_bytes: int, max_entries: int) -> DiskUse:
    """The blocks and entries under `root`, `.git` and ignored files included, links unfollowed.

    Nothing is opened but directories, one per level at a time; the count stops once either
    limit is passed.
    """
    tally = _Tally(max_bytes, max_entries)
    try:
        fd = os.open(root, DIRECTORY_FLAGS)
    except OSError:
        return DiskUse(0, 0)  # not there (yet, or any more): nothing to count
    try:
        tally.directory(fd, 0)
    finally:
        os.close(fd)
    return DiskUse(tally.bytes, tally.entries, tally.too_deep)


@dataclass
class _Tally:
    max_bytes: int
    max_entries: int
    bytes: int = 0
    entries: int = 0
    too_deep: bool = False

    def done(self) -> bool:
        return self.too_deep or self.bytes > self.max_bytes or self.entries > self.max_entries

    def directory(self, fd: int, depth: int) -> None:
        subdirectories = []
        try:
            with os.scandir(fd) as listing:
                for entry in listing:
                    self.entries += 1
                    with contextlib.suppress(OSError):  # gone meanwhile: nothing to count
                        self.bytes += entry.stat(follow_symlinks=False).st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            subdirectories.append(entry.name)
        except OSError:
            return  # removed while being listed
        for name in subdirectories:
            if self.done():
                return
            if depth >= MAX_DEPTH:
                self.too_deep = True
                return
            try:
                child = os.open(name, DIRECTORY_FLAGS, dir_fd=fd)
            except OSError:
                continue  # gone, or swapped for a link: never followed
            try:
                self.directory(child, depth + 1)
            finally:
                os.close(child)


def over_limit(use: DiskUse, *, max_bytes: int, max_entries: int) -> str | None:
    """Which limit `use` passes, in words, or None."""
    if use.too_deep:
        return f"directories nested more than {MAX_DEPTH} deep"
    if use.bytes > max_bytes:
        return f"more than {megabytes(max_bytes)} on disk"
    if use.entries > max_entries:
        return f"more than {max_entries:,} files and directories"
    return None


class DiskWatch:
    """Measures a workspace until it passes a limit, then says which (`passed`) and stops the run."""

    def __init__(
        self, root: Path, *, max_bytes: int, max_entries: int, stop: Callable[[], None]
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._stop = stop
        self.passed: str | None = None  # set before `stop` is called, so a run it ends sees it

    async def run(self) -> None:
        """Look every few seconds until a limit is passed (or until cancelled)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            use = await asyncio.to_thread(
                measure_disk_use, self.root, max_bytes=self.max_bytes, max_entries=self.max_entries
            )
            passed = over_limit(use, max_bytes=self.max_bytes, max_entries=self.max_entries)
            if passed is not None:
                self.passed = passed
                await asyncio.to_thread(self._stop)
                return
            await asyncio.sleep(max(WATCH_SECONDS, WATCH_BACKOFF * (loop.time() - started)))
