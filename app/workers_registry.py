"""The worker registry seen from the service: who this worker process is, how often it reports,
and when another process counts as lost.

Each worker process heartbeats its row (app/store/workers.py) every few seconds; one that missed
`MISSED_BEATS` of them is lost, and its jobs are taken back by the processes still alive.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.config import Settings
from app.sandbox_service import engine_name
from app.store.workers import WorkerRecord

# A heartbeat at most this far apart; more often when leases are short.
BEAT_SECONDS = 5.0
MISSED_BEATS = 3
# What docker-py uses when DOCKER_HOST is unset.
LOCAL_ENGINE = "unix:///var/run/docker.sock"
ALIVE, LOST = "alive", "lost"


def beat_interval(settings: Settings) -> float:
    """How often a worker process reports: several times per lease, so that a lost one is seen
    no later than its leases would have run out."""
    return min(settings.job_lease_seconds / MISSED_BEATS, BEAT_SECONDS)


def lost_after(settings: Settings) -> float:
    return MISSED_BEATS * beat_interval(settings)


def engine_of(environ: Mapping[str, str]) -> str:
    """The Docker engine this process's sandboxes run on, as docker-py picks it, shown without
    any user, password or certificate path DOCKER_HOST might carry."""
    return engine_name(environ)


def process_id() -> str:
    """Names one worker process: its host, its pid, and a nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Registration:
    """This worker process as the registry lists it."""

    capacity: int
    engine: str = field(default_factory=lambda: engine_of(os.environ))
    id: str = field(default_factory=process_id)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)

    def worker_id(self, number: int) -> str:
        """A worker's lease owner: the process's id, so a lost process's leases can be found."""
        return f"{self.id}/{number}"

    def record(self, running: tuple[str, ...], now: float) -> WorkerRecord:
        return WorkerRecord(
            id=self.id,
            host=self.host,
            pid=self.pid,
            engine=self.engine,
            capacity=self.capacity,
            running=running,
            started_at=self.started_at,
            heartbeat_at=now,
        )


def status_of(worker: WorkerRecord, now: float, settings: Settings) -> str:
    """Lost once marked so, or once its heartbeats are overdue (before anyone marked it)."""
    if worker.lost_at is not None or worker.heartbeat_at < now - lost_after(settings):
        return LOST
    return ALIVE


def alive(workers: list[WorkerRecord], now: float, settings: Settings) -> list[WorkerRecord]:
    return [w for w in workers if status_of(w, now, settings) == ALIVE]


def worker_view(worker: WorkerRecord, now: float, settings: Settings) -> dict[str, object]:
    """A process as `GET /v1/workers` and `fixwright workers --json` show it."""
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "engine": worker.engine,
        "capacity": worker.capacity,
        "running": list(worker.running),
        "status": status_of(worker, now, settings),
        "started_at": worker.started_at,
        "heartbeat_at": worker.heartbeat_at,
        "heartbeat_age_seconds": round(max(0.0, now - worker.heartbeat_at), 1),
        "lost_at": worker.lost_at,
    }
