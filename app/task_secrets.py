"""Credentials given with a task (a model key, a git token), held in this process's memory only.

They are never stored, logged or returned: the store keeps only whether a task had them, so a
task whose credentials are gone (the service restarted, or another node leased it) fails with a
reason saying so. Every value held here is redacted from logs, events and results while held.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

RESTART_REASON = (
    "the credentials given with this task were held only in memory, and the service restarted "
    "(or another node took the task) before it ran, so they are gone"
)
RESTART_NEXT_STEP = "Create the task again with its credentials."


@dataclass(frozen=True)
class TaskSecrets:
    """One task's credentials; their values stay out of repr."""

    model_key: str = field(default="", repr=False)
    git_token: str = field(default="", repr=False)

    def values(self) -> tuple[str, ...]:
        return tuple(value for value in (self.model_key, self.git_token) if value)


_held: dict[str, TaskSecrets] = {}
_lock = threading.Lock()


def hold(job_id: str, secrets: TaskSecrets) -> None:
    """Keep a task's credentials until `forget(job_id)` (nothing is kept when there are none)."""
    if not secrets.values():
        return
    with _lock:
        _held[job_id] = secrets


def secrets_of(job_id: str) -> TaskSecrets | None:
    """The task's credentials, or None when this process holds none for it."""
    with _lock:
        return _held.get(job_id)


def model_key(job_id: str) -> str | None:
    """The model key the relay uses for this job's runs instead of the operator's (None: theirs)."""
    held = secrets_of(job_id)
    return held.model_key if held is not None and held.model_key else None


def forget(job_id: str) -> None:
    """The task has ended: its credentials go."""
    with _lock:
        _held.pop(job_id, None)


def live_values() -> tuple[str, ...]:
    """Every credential held now, for redaction (longest first, so none is cut by another)."""
    with _lock:
        values = {value for secrets in _held.values() for value in secrets.values()}
    return tuple(sorted(values, key=len, reverse=True))
