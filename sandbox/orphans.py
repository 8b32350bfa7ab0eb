"""Which of this deployment's containers and networks on one engine are orphans, and removing them.

Several worker processes may share one engine and one store, so the reaper of one of them must
never remove what another's live job uses. Three rules keep it so:

- The engine is listed before the store is asked which jobs run. A job's container is made after
  its lease, so whatever the listing saw belongs to a job that was leased before the store was
  asked: a job still running then is seen running (without this order, a job leased between the
  two reads would lose its brand-new container).
- A container of a run carries its lease owner (`OWNER_LABEL`): it is an orphan once its job no
  longer runs, or runs under another owner (an earlier attempt whose worker died, on whichever
  engine). Set-up and proxy containers and networks carry none: their job's running is enough.
- Nothing younger than a grace period is removed, by the engine's own clock (a remote engine's
  clock may differ from the host's), whatever the store says.

Only what carries this deployment's instance label is ever listed: another deployment on the
same engine is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import docker
from docker.errors import APIError, NotFound

from sandbox.container import (
    INSTANCE_LABEL,
    JOB_LABEL,
    JOB_ROLES,
    OWNER_LABEL,
    ROLE_LABEL,
    remove_container,
)
from sandbox.egress_proxy import EGRESS_ROLE

# A running job's id and the worker holding its lease (None when the store has none).
Running = Mapping[str, str | None]
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


@dataclass(frozen=True)
class Leftover:
    """One container or network of this deployment as the engine listed it."""

    job_id: str
    owner: str | None  # the lease owner it was made for; None when it carries no owner
    created: float  # seconds since the epoch, by the engine's clock
    remove: Callable[[], None]


def engine_time(value: Any) -> float:
    """A time the engine gave, as seconds since the epoch: an int (container listings) or an
    RFC 3339 string with nanoseconds (inspections, network listings, `info`)."""
    if isinstance(value, int | float):
        return float(value)
    text = _FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def engine_now(client: docker.DockerClient) -> float:
    """The engine's clock now."""
    return engine_time(client.info()["SystemTime"])


def _remove_network(network: Any) -> Callable[[], None]:
    def remove() -> None:
        # A network a container still uses stays; the next round removes it.
        try:
            network.remove()
        except (NotFound, APIError):
            return

    return remove


def list_leftovers(client: docker.DockerClient, instance_id: str) -> list[Leftover]:
    """This deployment's job containers, then its egress networks (removed in that order: a
    network goes only once its proxy has gone)."""
    found: list[Leftover] = []
    labels = [f"{INSTANCE_LABEL}={instance_id}", JOB_LABEL]
    # Sparse: labels and creation time come with the listing, and a container that goes away
    # meanwhile cannot fail an inspection.
    for container in client.containers.list(all=True, sparse=True, filters={"label": labels}):
        container_labels = container.attrs.get("Labels") or {}
        if container_labels.get(ROLE_LABEL) not in JOB_ROLES:
            continue
        found.append(
            Leftover(
                job_id=container_labels.get(JOB_LABEL, ""),
                owner=container_labels.get(OWNER_LABEL),
                created=engine_time(container.attrs["Created"]),
                remove=partial(remove_container, container),
            )
        )
    labels = [f"{INSTANCE_LABEL}={instance_id}", f"{ROLE_LABEL}={EGRESS_ROLE}"]
    for network in client.networks.list(filters={"label": labels}):
        found.append(
            Leftover(
                job_id=(network.attrs.get("Labels") or {}).get(JOB_LABEL, ""),
                owner=None,
                created=engine_time(network.attrs["Created"]),
                remove=_remove_network(network),
            )
        )
    return found


def is_orphan(leftover: Leftover, running: Running, now: float, grace_seconds: float) -> bool:
    """True when no live job can be using it (see the module's rules)."""
    if now - leftover.created < grace_seconds:
        return False
    if leftover.job_id not in running:
        return True
    holder = running[leftover.job_id]
    return leftover.owner is not None and holder is not None and leftover.owner != holder


def remove_orphaned(
    leftovers: list[Leftover], running: Running, now: float, grace_seconds: float
) -> list[str]:
    """Remove the orphans among `leftovers`; the job ids of those removed, once each."""
    removed: list[str] = []
    for leftover in leftovers:
        if is_orphan(leftover, running, now, grace_seconds):
            leftover.remove()
            if leftover.job_id not in removed:
                removed.append(leftover.job_id)
    return removed


def remove_orphans(
    client: docker.DockerClient,
    running: Running | Collection[str],
    instance_id: str,
    *,
    grace_seconds: float = 0.0,
) -> list[str]:
    """List, then remove at once: for callers who know no job can start meanwhile (a single
    process at start, the tests); a pool sharing an engine lists first, then asks its store."""
    owners = running if isinstance(running, Mapping) else dict.fromkeys(running)
    now = engine_now(client)
    return remove_orphaned(list_leftovers(client, instance_id), owners, now, grace_seconds)
