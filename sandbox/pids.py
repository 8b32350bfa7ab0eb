"""Whether a container hit its pids limit: the kernel counts refused forks in the cgroup's pids.events.

Docker reports OOM kills but not refused forks, so the host reads the container's cgroup while it
runs (its cgroup is gone once it exits). Where the cgroup is not visible (the service itself in a
container without the host's /sys/fs/cgroup), nothing is known and 0 is reported.
"""

from __future__ import annotations

import threading
from pathlib import Path

POLL_SECONDS = 0.2
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_of(container_id: str, root: Path = CGROUP_ROOT) -> Path | None:
    """The container's pids cgroup directory, for cgroup v1 and v2 with either Docker driver."""
    candidates = (
        root / "pids" / "docker" / container_id,  # v1, cgroupfs driver
        root / "pids" / "system.slice" / f"docker-{container_id}.scope",  # v1, systemd driver
        root / "system.slice" / f"docker-{container_id}.scope",  # v2, systemd driver
        root / "docker" / container_id,  # v2, cgroupfs driver
    )
    return next((path for path in candidates if (path / "pids.events").exists()), None)


def refused_forks(events_text: str) -> int:
    """The `max` counter of a pids.events file: forks refused at the limit."""
    fields = events_text.split()
    return int(fields[fields.index("max") + 1]) if "max" in fields else 0


class PidsWatch:
    """Reads a running container's pids.events; `stop()` returns the forks refused.

    A thread polls, and `sample()` reads at once: the runner calls it on each piece of the CLI's
    output, when the container is surely alive. Polling alone can miss a short burst: a fork bomb
    that dies in 0.2 s, followed by a run that ends and takes its cgroup with it.
    """

    def __init__(self, container_id: str, root: Path = CGROUP_ROOT) -> None:
        self._container_id = container_id
        self._root = root
        self._cgroup: Path | None = None
        self._lock = threading.Lock()  # the reading thread and the poller both sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="pids-watch")
        self.refused = 0

    def start(self) -> PidsWatch:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        return self.refused

    def sample(self) -> bool:
        """Read the counter now; False once the cgroup is gone (the container has ended)."""
        self._cgroup = self._cgroup or cgroup_of(self._container_id, self._root)
        if self._cgroup is None:
            return True  # not visible yet (or never, from inside a container)
        try:
            count = refused_forks((self._cgroup / "pids.events").read_text())
        except (OSError, ValueError):
            return False
        with self._lock:
            self.refused = max(self.refused, count)
        return True

    def _watch(self) -> None:
        while not self._stop.is_set() and self.sample():
            self._stop.wait(POLL_SECONDS)
