"""The worker pool: leases queued jobs, heartbeats while they run, and takes back crashed ones."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
import structlog
from docker.errors import DockerException
from githubkit import GitHub
from githubkit.exception import GitHubException
from structlog.typing import FilteringBoundLogger

from app import job_events
from app.audit import Action, audit
from app.config import Settings
from app.context import Context, append_event
from app.errors import JobFailed, JobRefused
from app.events import WebhookEvent
from app.failure import github_failure, tell_thread
from app.github_app import GitHubAuthError
from app.github_connect import GitHubConnector
from app.job_events import NewEvent
from app.kinds import JobKind
from app.log import get_logger
from app.metrics import Metrics, mark_heartbeat, watch_github_calls
from app.quota import QuotaDecision
from app.quota_gate import post_refusal, quota_decision, refusal_summary
from app.repo_config import PATH as REPO_CONFIG_PATH
from app.repo_config import RepoConfigError, load_repo_config, narrowed
from app.routing import Registry
from app.sandbox_service import reap_orphans
from app.store import Job, JobState, Store
from app.task_endings import task_ended
from app.trigger_gate import AwaitingApproval, check_trigger
from app.workers_registry import Registration, beat_interval, lost_after
from sandbox.seams import Sandbox, Workspaces

HEARTBEAT_SECONDS = 2.0
REPO_CONFIG_FIX = (
    "Fix the file on the default branch (see the README's per-repository settings), then try again."
)


def event_of(job: Job) -> WebhookEvent:
    """The delivery a job was queued for, as stored with it at intake."""
    return WebhookEvent(
        name=str(job.payload.get("event", "")),
        delivery_id=job.delivery_id,
        payload=job.payload.get("payload", {}),
    )


@dataclass
class WorkerPool:
    """N workers in this process, woken at once by intake and polling as a fallback."""

    settings: Settings
    store: Store
    registry: Registry
    connect: GitHubConnector
    metrics: Metrics
    workspaces: Workspaces
    # The sandbox for a job under its (narrowed) settings; None on a node without an engine.
    sandbox_for: Callable[[Settings], Sandbox] | None = None
    # The Docker engine whose sandbox containers this pool owns; None on intake-only nodes.
    docker_client: docker.DockerClient | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)  # set when no job runs
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False
    draining: bool = False  # shutting down: no new leases, running jobs may finish
    _next_steps: dict[str, str] = field(default_factory=dict)  # a failed job's, by job id
    busy: int = 0  # workers running a job now
    # This process in the worker registry (app/workers_registry.py); its workers' lease owners
    # are `<its id>/<n>`, which tells an operator which host and process held a lease.
    registration: Registration | None = None
    running: dict[str, str] = field(default_factory=dict)  # job id by worker id, now

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Register this process, take back jobs whose worker died, then start the workers, the
        lease reaper and the registry's heartbeat."""
        if not self.settings.workers:
            return
        if self.registration is None:
            self.registration = Registration(capacity=self.settings.workers)
        await self.beat()
        await self._reclaim()
        for number in range(self.settings.workers):
            worker_id = self.registration.worker_id(number)
            self._tasks.append(asyncio.create_task(self._work(worker_id)))
        self._tasks.append(asyncio.create_task(self._reap()))
        self._tasks.append(asyncio.create_task(self._keep_registered()))

    def alive_workers(self) -> int:
        """Workers whose loop still runs (a dead one would leave jobs queued)."""
        return sum(not task.done() for task in self._tasks[: self.settings.workers])

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking jobs, give running ones `grace_seconds` to finish, then put the rest back."""
        self.draining = True
        self._wake.set()
        if self.busy:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace_seconds)
        get_logger().info("service.drained", unfinished_jobs=self.busy)
        await self.stop()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.registration is not None:  # stopped on purpose: not lost, just gone
            try:
                await self.store.remove_worker(self.registration.id)
            except Exception as error:  # its row then turns lost, which takes nothing back
                get_logger().warning("workers.not_deregistered", error=repr(error))

    async def beat(self) -> None:
        """Tell the registry this process is alive, and which jobs it runs."""
        if self.registration is None:
            return
        running = tuple(sorted(self.running.values()))
        await self.store.beat_worker(self.registration.record(running, time.time()))

    async def take_back_from_lost(self) -> list[str]:
        """Mark lost the worker processes that missed their heartbeats, and put their jobs
        back now rather than when each lease would run out."""
        lost = await self.store.mark_lost_workers(time.time() - lost_after(self.settings))
        if lost:
            get_logger().warning("workers.lost", workers=lost, remedy="their jobs are taken back")
            await self._reclaim()
        return lost

    async def _keep_registered(self) -> None:
        while not self._stopping:
            await asyncio.sleep(beat_interval(self.settings))
            try:
                await self.beat()
                await self.take_back_from_lost()
            # The boundary of the heartbeat: a store that fails now is tried again next beat.
            except Exception as error:
                get_logger().warning("workers.heartbeat_failed", error=repr(error))

    async def _reclaim(self) -> None:
        await self.expire_approvals()
        notice = self.registry.interruption_notice
        reclaimed = await self.store.reclaim_expired(notice.name if notice else None)
        if reclaimed:
            get_logger().warning("jobs.reclaimed", jobs=reclaimed, reason="lease expired")
        if self.docker_client is not None:
            # before a worker runs a reclaimed job again
            await self._remove_orphan_containers(self.docker_client)
        if reclaimed:
            self.wake()

    async def _remove_orphan_containers(self, docker_client: docker.DockerClient) -> None:
        """Remove this deployment's containers on this engine that no live job uses (their
        worker died); never another worker's live ones (app/sandbox_service.py says how)."""
        try:
            removed = await reap_orphans(self.store, docker_client, self.settings)
        except DockerException as error:
            get_logger().warning("sandbox.orphans_not_removed", error=str(error))
            return
        if removed:
            get_logger().warning("sandbox.orphans_removed", jobs=removed)

    async def _reap(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.settings.job_lease_seconds / 2)
            await self._reclaim()

    async def _work(self, worker_id: str) -> None:
        while not self._stopping and not self.draining:
            mark_heartbeat(self.metrics)
            job = await self.store.lease(worker_id, self.settings.job_lease_seconds)
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_seconds)
                continue
            self.busy += 1
            self.running[worker_id] = job.id
            self.metrics.workers_busy.inc()
            try:
                await self.run(job, worker_id)
            finally:
                self.running.pop(worker_id, None)
                self.busy -= 1
                self.metrics.workers_busy.dec()
                if not self.busy:
                    self._idle.set()

    async def run(self, job: Job, worker_id: str) -> None:
        """Run one leased job to its end, heartbeating; one log line says how it ended."""
        started = time.monotonic()
        event = event_of(job)
        log = get_logger(job_id=job.id, kind=job.kind, attempt=job.attempts, **event.summary)
        state, summary = JobState.FAILED, ""
        await self._tell_readers(job, job_events.status(JobState.RUNNING.value), log)
        with structlog.contextvars.bound_contextvars(job_id=job.id, delivery_id=job.delivery_id):
            work = asyncio.create_task(self._handle_safely(job, event, log))
            beat = asyncio.create_task(self._heartbeat(job, worker_id, work))
            try:
                state, summary = await work
            except asyncio.CancelledError:
                if self._stopping:
                    await self._put_back(job, worker_id, work, log)
                    raise
                if not work.cancelled():
                    raise
                state, summary = JobState.CANCELLED, "cancelled"
            finally:
                beat.cancel()
            if state is JobState.AWAITING_APPROVAL:
                await self._set_aside(job, worker_id, summary, log)
                return
            finished = await self.store.finish(job.id, worker_id, state, summary)
        next_step = self._next_steps.pop(job.id, "")
        await self._tell_readers(job, job_events.status(state.value, summary), log)
        await self._tell_readers(job, job_events.ending(state.value, summary, next_step), log)
        await task_ended(self, job)  # a task's credentials go, and its webhook is queued
        self.metrics.jobs_finished.labels(kind=job.kind, state=state.value).inc()
        self.metrics.job_seconds.labels(kind=job.kind).observe(time.monotonic() - started)
        log.info(
            "job.finished",
            state=state.value,
            summary=summary,
            seconds=round(time.monotonic() - started, 3),
            lease_kept=finished,
        )

    async def _set_aside(
        self, job: Job, worker_id: str, summary: str, log: FilteringBoundLogger
    ) -> None:
        """The job waits for approval: out of the worker, nothing counted as run."""
        expires_at = time.time() + self.settings.approval_expires_seconds
        kept = await self.store.await_approval(job.id, worker_id, summary, expires_at)
        if not kept:  # cancelled meanwhile: its summary stands, and the worker lets go
            await self.store.finish(job.id, worker_id, JobState.CANCELLED, summary)
        state = JobState.AWAITING_APPROVAL if kept else JobState.CANCELLED
        await self._tell_readers(job, job_events.status(state.value, summary), log)
        if not kept:
            await self._tell_readers(job, job_events.ending(state.value, summary), log)
        log.info("job.awaiting_approval", summary=summary, lease_kept=kept)

    async def expire_approvals(self, now: float | None = None) -> list[str]:
        """End the requests not approved in time; a notice job tells each thread."""
        notice = self.registry.approval_notice
        expired = await self.store.expire_approvals(
            time.time() if now is None else now, notice.name if notice else None
        )
        if expired:
            get_logger().info("approvals.expired", jobs=[approval.job_id for approval in expired])
            for approval in expired:
                await audit(
                    self.store,
                    Action.APPROVAL_EXPIRED,
                    actor="fixwright",
                    repository=approval.repository,
                    installation_id=approval.installation_id,
                    subject=approval.job_id,
                    detail=f"{approval.target}: {approval.kind} requested by "
                    f"{approval.requested_by}, not approved in time",
                )
            self.wake()
        return [approval.job_id for approval in expired]

    async def _put_back(
        self, job: Job, worker_id: str, work: asyncio.Task[Any], log: FilteringBoundLogger
    ) -> None:
        """Shutdown interrupted the job: once its container is gone, queue it again (no attempt lost)."""
        work.cancel()
        await asyncio.wait(
            [work], timeout=60
        )  # its `finally` blocks remove container and workspace
        if await self.store.release(job.id, worker_id):
            log.warning("job.put_back", reason="the service is shutting down")

    async def _handle(
        self, job: Job, event: WebhookEvent, log: FilteringBoundLogger
    ) -> tuple[JobState, str]:
        kind = self.registry.kind(job.kind)
        if kind is None:
            return JobState.FAILED, f"no handler for job kind {job.kind!r}"
        async with self.connect(job, kind.permissions) as session:
            github = session.client
            await watch_github_calls(github, self.metrics)
            try:
                settings = await self._settings_for(job, kind, github)
            except RepoConfigError as error:
                reason = f"`{REPO_CONFIG_PATH}` is not valid: {error}."
                await audit(self.store, Action.CONFIG_ERROR, job, detail=reason, log=log)
                await self._tell_thread(github, job, kind, reason, REPO_CONFIG_FIX, log)
                return JobState.FAILED, reason
            decision = await quota_decision(self.store, settings, job, self.registry.metered())
            if not decision.allowed:
                return await self._refuse(github, job, kind, decision, log)
            context = Context(
                job=job,
                kind=kind,
                kinds=self.registry.kinds,
                settings=settings,
                github=github,
                git_token=session.token,
                log=log,
                store=self.store,
                workspaces=self.workspaces,
                sandbox=self.sandbox_for(settings) if self.sandbox_for else None,
                app_slug=session.app_slug,
                metrics=self.metrics,
            )
            try:
                await check_trigger(github, self.store, job, kind, settings, log)
                return JobState.SUCCEEDED, await kind.handler(event, context)
            except AwaitingApproval as waiting:
                return JobState.AWAITING_APPROVAL, waiting.summary
            except JobRefused as refused:
                return JobState.CANCELLED, f"refused: {refused.reason}"
            except JobFailed as failure:
                if failure.reported:
                    self._next_steps[job.id] = failure.next_step
                    return JobState.FAILED, failure.reason
                reason, next_step = failure.reason, failure.next_step
            except GitHubException as error:
                reason, next_step = github_failure(error)
                next_step = f"{next_step} {kind.words.retry_hint}".strip()
                log.warning("job.github_error", reason=reason)
            # The boundary: a handler bug fails its job, never the worker.
            except Exception as error:
                log.exception("job.crashed")
                reason = f"an internal error ({type(error).__name__}) stopped it"
                next_step = (
                    f"An operator can find the details in the service log under job id `{job.id}`. "
                    + kind.words.retry_hint
                )
            await self._tell_thread(github, job, kind, reason, next_step, log)
            return JobState.FAILED, reason

    async def _settings_for(self, job: Job, kind: JobKind, github: GitHub[Any]) -> Settings:
        """The operator's settings, narrowed by the repository's own file for jobs that read code."""
        if not kind.reads_code() or job.installation_id is None:
            return self.settings
        return narrowed(self.settings, await load_repo_config(github, job.repository))

    async def _refuse(
        self,
        github: GitHub[Any],
        job: Job,
        kind: JobKind,
        decision: QuotaDecision,
        log: FilteringBoundLogger,
    ) -> tuple[JobState, str]:
        """A quota is reached: the job does not start, and the thread hears why once."""
        self.metrics.quota_refusals.labels(limit=decision.limit_name).inc()
        log.info("job.refused_by_quota", limit=decision.limit_name, used=decision.used)
        try:
            await post_refusal(self.store, github, job, kind.words.noun, decision, log)
        except Exception as error:  # the job is refused all the same; the log says so
            log.warning("job.refusal_not_posted", error=repr(error))
        return JobState.CANCELLED, refusal_summary(decision)

    async def _tell_thread(
        self,
        github: GitHub[Any],
        job: Job,
        kind: JobKind,
        reason: str,
        next_step: str,
        log: FilteringBoundLogger,
    ) -> None:
        self._next_steps[job.id] = next_step  # for the job's terminal event
        try:
            await tell_thread(github, job, kind.words, reason, next_step)
        except Exception as error:  # the job already failed; say so in the log instead
            log.warning("job.failure_not_posted", error=repr(error))

    async def _handle_safely(
        self, job: Job, event: WebhookEvent, log: FilteringBoundLogger
    ) -> tuple[JobState, str]:
        """Run the handler; failures to reach GitHub at all end the job with the reason logged."""
        try:
            return await self._handle(job, event, log)
        except JobFailed as failure:
            log.warning("job.not_started", reason=failure.reason)
            return JobState.FAILED, failure.reason
        except GitHubAuthError as error:  # an operator must fix the App's set-up
            log.error("job.github_auth_failed", remedy=str(error))
            return JobState.FAILED, str(error)
        except Exception as error:  # e.g. the installation token could not be minted
            log.exception("job.not_started")
            return JobState.FAILED, f"could not reach GitHub for this job ({type(error).__name__})"

    async def _tell_readers(self, job: Job, event: NewEvent, log: FilteringBoundLogger) -> None:
        """Append a status or terminal event; a store that refuses it is logged, never raised
        (the job's own record is what counts)."""
        try:
            await append_event(self.store, self.settings, job.id, event)
        except Exception as error:
            log.warning("job.event_not_recorded", kind=event.kind, error=repr(error))

    async def _heartbeat(self, job: Job, worker_id: str, work: asyncio.Task[Any]) -> None:
        # Often enough that a cancelled job stops within seconds, and a lease never lapses.
        interval = min(self.settings.job_lease_seconds / 3, HEARTBEAT_SECONDS)
        while True:
            await asyncio.sleep(interval)
            kept = await self.store.heartbeat(job.id, worker_id, self.settings.job_lease_seconds)
            self.metrics.worker_heartbeats.labels(outcome="kept" if kept else "lost").inc()
            mark_heartbeat(self.metrics)
            if not kept:
                # Cancelled by a user, or taken back after a stall: stop doing its work.
                work.cancel()
                return
