"""The scheduler: on every node with workers, every few seconds, each schedule's due slots are
claimed in the store, where a slot is owned by the one node that inserts it (see
app/store/schedules.py); the claim queues the slot's task job in the same transaction.

Slots missed while no node ran: the latest fires once when it is younger than
FIXWRIGHT_SCHEDULE_CATCH_UP, the older ones (and a latest one older than that) are recorded as
skipped. A slot whose schedule still has a job queued or running is skipped with that reason.
The job is a task like any other: the worker holds it to its installation's quotas.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cronsim import CronSimError

from app.audit import Action, audit
from app.config import Settings
from app.log import get_logger
from app.routing import Registry
from app.schedule_times import due_slots
from app.store import NewJob, Store, Task
from app.store.outcomes import OPEN
from app.store.schedules import ScheduleView, SlotClaim
from app.workers_registry import process_id

INTERVAL_SECONDS = 5.0
# A slot a tick finds late by less than this is on time, not missed (a slow tick, a start-up).
ON_TIME_SECONDS = 120.0
# Slots further back than this are not walked: a schedule down for longer records less.
WALK_SECONDS = 7 * 86_400.0
MISSED = "missed: no worker node ran at its time"
PAUSED = "the schedule is paused"


def schedule_branch(branch_prefix: str, schedule_id: str, slot_at: float) -> str:
    """A new branch for a schedule's run (one whose earlier pull request is no longer open)."""
    stamp = datetime.fromtimestamp(slot_at, UTC).strftime("%Y%m%d-%H%M")
    return f"{branch_prefix}schedule-{schedule_id[:12]}-{stamp}"


async def open_branch(store: Store, schedule_id: str) -> str:
    """The branch of the pull request the schedule's latest run opened, while it is open
    ("" otherwise): the next run pushes there, and the pull request is refreshed."""
    for slot in reversed(await store.schedule_slots(schedule_id)):
        task = await store.task(slot.job_id) if slot.job_id else None
        pull = (task.result or {}).get("pull_request") if task else None
        if not isinstance(pull, dict):
            continue
        job = await store.get_job(task.job_id) if task else None
        outcome = await store.pull_request_outcome(job.repository, pull["number"]) if job else None
        if outcome is not None and outcome.state == OPEN:
            return str(pull["branch"])
        return ""
    return ""


def scheduled_job(
    settings: Settings, kind: str, view: ScheduleView, slot_at: float, branch: str = ""
) -> tuple[NewJob, dict[str, Any]]:
    """The slot's task job, as the API would queue it, with the schedule as who asked; and the
    task's fields (what its task row keeps)."""
    schedule = view.schedule
    owner, _, name = schedule.repository.partition("/")
    output: dict[str, Any] = {"pull_request": schedule.output == "pull_request"}
    if schedule.output == "pull_request":
        output["branch"] = branch or schedule_branch(settings.branch_prefix, schedule.id, slot_at)
    fields = {
        "prompt": schedule.prompt,
        "repository": {"owner": owner, "name": name},
        "claude": {},
        "options": {},
        "output": output,
    }
    job = NewJob(
        kind=kind,
        repository=schedule.repository,
        target=f"{schedule.repository}!schedule-{schedule.id[:12]}-{int(slot_at)}",
        installation_id=schedule.installation_id,
        requested_by=f"schedule:{schedule.name}",
        payload={
            "task": fields,  # where handlers/task/spec.py reads a task
            "schedule": {
                "id": schedule.id,
                "name": schedule.name,
                "slot_at": slot_at,
                "output": schedule.output,
                "issue": schedule.issue_number,
            },
        },
    )
    return job, fields


@dataclass
class Scheduler:
    """One node's scheduler; `clock` is injectable so tests drive the time."""

    settings: Settings
    store: Store
    registry: Registry
    wake: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.time
    node: str = field(default_factory=process_id)
    interval: float = INTERVAL_SECONDS

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is logged and the next one tries again."""
        log = get_logger(node=self.node)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store away for a moment: the next tick retries
                log.warning("scheduler.tick_failed", error=repr(error))
            await asyncio.sleep(self.interval)

    async def tick(self) -> list[SlotClaim]:
        """Claim every schedule's due slots; what this node claimed."""
        kind = self.registry.scheduled_task
        if kind is None:
            return []
        now = self.clock()
        claims: list[SlotClaim] = []
        for view in await self.store.schedules():
            try:
                claims += await self._claim_due(view, kind.name, now)
            except (CronSimError, KeyError, ValueError) as error:  # validated when kept
                log = get_logger(node=self.node, schedule=view.schedule.id)
                log.warning("schedule.invalid", error=str(error))
        if any(claim.job_id for claim in claims):
            self.wake()
        return claims

    async def _claim_due(self, view: ScheduleView, kind: str, now: float) -> list[SlotClaim]:
        schedule = view.schedule
        after = max(view.last.slot_at if view.last else schedule.created_at, now - WALK_SECONDS)
        due = due_slots(schedule.cron, schedule.timezone, after, now)
        if not due:
            return []
        catch_up = max(self.settings.schedule_catch_up_seconds, ON_TIME_SECONDS)
        latest = due[-1]
        plan = [(slot, MISSED) for slot in due[:-1]]
        late = f"{MISSED}, and older than the catch-up of {int(catch_up)} s"
        plan.append((latest, "" if now - latest <= catch_up else late))
        if schedule.paused:  # its slots pass, recorded: none fires when it is resumed
            plan = [(slot, PAUSED) for slot in due]
        claims = []
        for slot_at, skip_reason in plan:
            branch = await open_branch(self.store, schedule.id) if not skip_reason else ""
            job, fields = scheduled_job(self.settings, kind, view, slot_at, branch)
            task = Task(
                job_id="",
                created_at=0.0,
                external_id=f"schedule:{schedule.id}",
                options=fields,
            )
            claim = await self.store.claim_schedule_slot(
                schedule.id, slot_at, self.node, skip_reason, job, task
            )
            if not claim.claimed:
                continue
            claims.append(claim)
            await self._record(view, slot_at, claim)
        return claims

    async def _record(self, view: ScheduleView, slot_at: float, claim: SlotClaim) -> None:
        schedule = view.schedule
        log = get_logger(node=self.node, schedule=schedule.id, repository=schedule.repository)
        if claim.job_id is None:
            log.info("schedule.slot_skipped", slot_at=slot_at, reason=claim.reason)
            return
        log.info("schedule.slot_fired", slot_at=slot_at, job_id=claim.job_id)
        job = await self.store.get_job(claim.job_id)
        if job is not None:
            await audit(
                self.store,
                Action.TASK_CREATED,
                job,
                detail=f"task queued by schedule {schedule.name} ({schedule.id})",
            )


def start_scheduler(
    settings: Settings, store: Store, registry: Registry, wake: Callable[[], None]
) -> asyncio.Task[None] | None:
    """The scheduler's loop, on a node that runs jobs (None on one that does not)."""
    if not settings.workers or registry.scheduled_task is None:
        return None
    return asyncio.create_task(Scheduler(settings, store, registry, wake=wake).run())
