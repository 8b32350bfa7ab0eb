"""What the job store holds: plain records shared by every store engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.store.api_keys import ApiKeyRecord
    from app.store.budget import DayLimits, DayReservation
    from app.store.outcomes import (
        PostedFinding,
        PullRequestChange,
        PullRequestOutcome,
        Recorded,
    )
    from app.store.queue_stats import KindQueue
    from app.store.schedules import Schedule, ScheduleSync, ScheduleView, Slot, SlotClaim
    from app.store.tasks import Task, TaskCreated, TaskQuery
    from app.store.webhook_deliveries import WebhookAttempt, WebhookDelivery
    from app.store.workers import WorkerRecord


class StoreUnavailable(Exception):
    """The store could not take a write now (locked too long by another process, disk full or
    read-only, PostgreSQL unreachable): the call may be made again later."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Nothing runs until a maintainer approves (back to queued) or denies it, or it expires.
    AWAITING_APPROVAL = "awaiting_approval"


FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class Delivery:
    """A verified webhook delivery, as recorded for de-duplication and audit."""

    id: str
    event: str
    action: str = ""
    installation_id: int | None = None
    repository: str = ""
    outcome: str = "ignored"
    # SHA-256 of the signed body, for deliveries that queue or cancel jobs: the same body under
    # another delivery id is a replay, answered as a duplicate.
    body_sha256: bytes | None = None


@dataclass(frozen=True)
class NewJob:
    """A job to queue, decided at intake from the delivery alone (no I/O)."""

    kind: str
    repository: str
    target: str
    installation_id: int | None
    requested_by: str
    payload: Mapping[str, Any]
    number: int | None = None


@dataclass(frozen=True)
class CancelScope:
    """Which queued and running jobs a delivery cancels (an uninstalled App, removed repositories)."""

    installation_id: int
    repositories: tuple[str, ...] | None  # None: every repository of the installation
    reason: str
    actor: str = ""  # who caused it (the audit trail's actor), empty for GitHub itself


@dataclass(frozen=True)
class Job:
    """A job as stored: what to do, for whom, and how far it got."""

    id: str
    kind: str
    repository: str
    target: str
    number: int | None
    installation_id: int | None
    requested_by: str
    delivery_id: str
    payload: Mapping[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    summary: str
    usage: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's append-only log (progress, stream-json events)."""

    job_id: str
    seq: int
    at: float
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class DailyUsage:
    """What one installation spent on one UTC day (tokens as the job budget counts them)."""

    installation_id: int
    day: str
    tokens: int
    cost_usd: float
    jobs: int


@dataclass(frozen=True)
class QuotaCounts:
    """An installation's jobs running now, and one user's metered jobs started since a time."""

    active_jobs: int
    user_jobs: int
    user_oldest_started_at: float | None


@dataclass(frozen=True)
class QueueStats:
    """How many jobs wait, and since when the oldest of them has waited."""

    depth: int
    oldest_created_at: float | None


@dataclass(frozen=True)
class Pruned:
    """What one retention sweep removed from the store (finished job rows themselves stay)."""

    deliveries: int = 0
    job_payloads: int = 0
    job_events: int = 0
    notices: int = 0
    audit: int = 0
    conversations: int = 0
    approvals: int = 0
    webhook_deliveries: int = 0


@dataclass(frozen=True)
class AuditEntry:
    """One decision of the service, for the audit trail: what was decided, by or for whom, on
    which repository, about what (a job id, an issue), and why in words."""

    action: str  # "trigger.accepted", "trigger.refused", "approval.granted", "push", ...
    actor: str  # a GitHub login, "schedule:<name>", "token", or "fixwright" for its own decisions
    repository: str
    installation_id: int | None
    subject: str
    detail: str = ""
    at: float = 0.0  # set by the store when recorded


@dataclass(frozen=True)
class Round:
    """One round of work on a branch: who asked for what, what Claude said, what it cost."""

    job_id: str
    trigger: str  # "label", "/fix", "review": what started the round
    actor: str
    summary: str
    files: tuple[str, ...] = ()
    commit: str = ""  # the commit the round pushed ("" when it pushed none)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "files": list(self.files)}


@dataclass(frozen=True)
class Conversation:
    """The Claude Code session behind a work branch, resumed by the next round on that branch."""

    repository: str
    branch: str
    session_id: str
    transcript: bytes
    rounds: tuple[Round, ...] = ()
    updated_at: float = 0.0


@dataclass(frozen=True)
class Approval:
    """A job's request for approval: who asked, until when it waits, and how it was decided
    (`decision` is "" while pending, then approved, denied, expired or withdrawn)."""

    job_id: str
    kind: str
    repository: str
    target: str
    number: int | None
    installation_id: int | None
    requested_by: str
    requested_at: float
    expires_at: float
    decision: str = ""
    decided_by: str = ""
    decided_at: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class ApprovalToken:
    """A single-use credential that decides one job's approval over HTTP: only the SHA-256 of
    its secret is kept; `decision` is what its first use decided ("" while unused)."""

    id: str
    job_id: str
    secret_sha256: bytes
    created_at: float
    expires_at: float
    used_at: float | None = None
    decision: str = ""


@dataclass(frozen=True)
class AuditQuery:
    """Which audit entries to read: all since a time, narrowed by repository and actor."""

    since: float = 0.0
    repository: str = ""
    actor: str = ""
    limit: int = 10_000


class Store(Protocol):
    """The durable store every engine implements; all methods are safe to call concurrently."""

    async def record_delivery(
        self, delivery: Delivery, jobs: list[NewJob], cancels: list[CancelScope] | None = None
    ) -> list[str] | None:
        """Record a delivery, queue its jobs and apply its cancellations in one transaction.

        None when the delivery id was seen before (nothing is done twice).
        """

    async def lease(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Take the oldest queued job whose target has no running job, or None.

        Of the queued jobs of one target and kind only the newest is taken: the older ones wait
        until it is superseded (`supersede_older`) or ends without running, then the next runs.
        """

    async def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend a held lease; False when the lease was lost or the job cancelled."""

    async def finish(
        self,
        job_id: str,
        worker_id: str,
        state: JobState,
        summary: str,
        usage: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record a job's end; False when this worker no longer held it."""

    async def set_usage(self, job_id: str, usage: Mapping[str, Any]) -> None:
        """Record what a job spent (tokens, cost), as soon as it is known."""

    async def release(self, job_id: str, worker_id: str) -> bool:
        """Queue a running job again without counting its attempt (its worker is shutting down)."""

    async def reclaim_expired(self, notice_kind: str | None = None) -> list[str]:
        """Take back running jobs whose lease expired (their worker died); returns their ids.

        A job out of attempts fails; with a `notice_kind`, a job of that kind is queued in the
        same transaction to tell its thread (the reaper itself has no GitHub client)."""

    async def cancel(self, job_id: str, reason: str) -> bool:
        """Cancel a queued or running job; the worker notices at its next heartbeat."""

    async def supersede_older(self, job_id: str, reason: str) -> list[str]:
        """Cancel, with `reason`, the queued jobs of this job's target and kind queued before it.

        Called once the newer job's requester is known to be allowed, so a stranger's trigger
        never cancels a maintainer's job. Returns the ids cancelled.
        """

    async def claim_notice(
        self, repository: str, number: int, person: str, kind: str, window_seconds: float
    ) -> bool:
        """Record that a notice of `kind` goes to `person` on this issue now; False (recording
        nothing) when one went there within the last `window_seconds`."""

    async def active_jobs(self, target: str) -> list[Job]:
        """The queued and running jobs for one issue or pull request."""

    async def append_event(self, job_id: str, kind: str, data: Mapping[str, Any]) -> int:
        """Append to a job's log and return the entry's sequence number."""

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        """A job's log entries with a sequence number above `after`."""

    def watch_events(self, listener: Callable[[str, int], None]) -> None:
        """Call `listener(job_id, seq)` after each append has committed (the live readers' cue;
        on PostgreSQL, appends made by every node)."""

    async def record_audit(self, entry: AuditEntry) -> None:
        """Append one entry to the audit trail (its time is the store's clock)."""

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        """The audit trail's newest entries that match (at most `query.limit`), oldest first."""

    async def conversation(self, repository: str, branch: str) -> Conversation | None:
        """The session and rounds of a work branch, if a round has run on it."""

    async def save_conversation(self, conversation: Conversation) -> None:
        """Store (or replace) a branch's session and rounds."""

    async def await_approval(
        self, job_id: str, worker_id: str, summary: str, expires_at: float
    ) -> bool:
        """Put a running job this worker holds to wait for approval until `expires_at`: its
        lease let go, its attempt not counted; False when the worker no longer held it."""

    async def approval(self, job_id: str) -> Approval | None:
        """The job's request for approval, pending or decided (None: it never needed one)."""

    async def pending_approval(self, target: str) -> Approval | None:
        """The request waiting for approval on one issue or pull request (at most one waits)."""

    async def pending_approvals(self, limit: int = 100) -> list[Approval]:
        """Every request waiting for approval, oldest first."""

    async def decide_approval(
        self,
        job_id: str,
        decision: str,
        actor: str,
        reason: str = "",
        token_id: str = "",
        notice_kind: str | None = None,
    ) -> tuple[Approval | None, bool]:
        """Approve (queued again) or deny (cancelled) a pending job; the request as it stands
        afterwards, and whether this call decided it. With `token_id`, that token is used up in
        the same transaction (an unused one only: a used token decides nothing); with a
        `notice_kind`, a job of that kind is queued to tell the thread."""

    async def expire_approvals(self, before: float, notice_kind: str | None) -> list[Approval]:
        """End the requests still pending at `before` past their time (their jobs cancelled);
        with a `notice_kind`, a job of that kind is queued for each to tell its thread."""

    async def add_approval_token(self, token: ApprovalToken) -> bool:
        """Keep a new token for a pending job; False when the job waits for no approval."""

    async def approval_token(self, token_id: str) -> ApprovalToken | None: ...

    async def create_task(self, job: NewJob, task: Task, since: float) -> TaskCreated:
        """Queue a task's job with its row in one transaction; with an idempotency key used
        since `since`, the earlier task (same body) or a conflict (another), writing nothing."""

    async def task(self, job_id: str) -> Task | None:
        """A task's own fields (None for a job that came from a webhook)."""

    async def task_by_idempotency_key(self, idempotency_key: str, since: float) -> Task | None:
        """The task created with this idempotency key since `since`, if any."""

    async def set_task_outcome(self, job_id: str, diff: str, result: Mapping[str, Any]) -> None:
        """Keep what a task left: its diff (capped, redacted) and its result."""

    async def list_tasks(self, query: TaskQuery) -> list[Job]:
        """Jobs of any kind, newest first, filtered, after the query's cursor."""

    async def queue_webhook(self, delivery: WebhookDelivery) -> bool:
        """Queue a task's outgoing webhook, due at its `created_at`; False when the task already
        has one."""

    async def claim_webhooks(
        self, now: float, until: float, owner: str, limit: int
    ) -> list[WebhookDelivery]:
        """Take the webhook deliveries due at `now` for `owner` until `until` (then they fall
        due again, should the owner die mid-attempt)."""

    async def record_webhook_attempt(
        self, delivery_id: str, owner: str, attempt: WebhookAttempt, state: str, outcome: str
    ) -> bool:
        """Keep an attempt and move its delivery on (due again, delivered or failed); False when
        `owner` no longer holds it."""

    async def webhook_deliveries(self, job_id: str) -> list[WebhookDelivery]:
        """A task's webhook deliveries with their attempts."""

    async def unqueued_webhooks(
        self, finished_since: float, created_since: float, limit: int
    ) -> list[str]:
        """Ids of tasks with a webhook, ended since `finished_since`, with no delivery queued."""

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        """Keep a new API key (its secret's hash only)."""

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        """One API key by its public id."""

    async def api_keys(self) -> list[ApiKeyRecord]:
        """Every API key, revoked and expired ones too, oldest first."""

    async def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key from now on; False for an unknown or already revoked one."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def list_jobs(self, state: JobState | None = None, limit: int = 50) -> list[Job]: ...

    async def has_delivery(self, delivery_id: str) -> bool: ...

    async def get_marker(self, name: str) -> str | None:
        """A small named value the service keeps across restarts (e.g. the reconciler's last run)."""

    async def set_marker(self, name: str, value: str) -> None: ...

    async def add_usage(
        self, installation_id: int, day: str, tokens: int, cost_usd: float
    ) -> DailyUsage:
        """Add one job's spend to its installation's day; returns the day's new totals."""

    async def usage_on(self, day: str) -> list[DailyUsage]:
        """Every installation's spend on a day."""

    async def quota_counts(
        self,
        installation_id: int | None,
        user: str,
        kinds: frozenset[str],
        since: float,
        exclude_job: str = "",
    ) -> QuotaCounts:
        """Running jobs of `kinds` for the installation, and the user's jobs of `kinds` started
        since `since` (refused ones not counted), both without `exclude_job`."""

    async def running_by_installation(self) -> dict[int, int]:
        """How many jobs run now, per installation."""

    async def queue_stats(self) -> QueueStats: ...

    async def prune(self, before: float) -> Pruned:
        """Delete deliveries received before `before`, and the payloads and logs of jobs that
        finished before it; job rows stay, with their summary and usage."""

    async def running_since(self) -> float | None:
        """When the running job that started first started (None when none runs)."""

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    async def close(self) -> None: ...

    def watch_jobs(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after a commit that may have made a job leasable (queued, put back,
        approved, or its target freed), made by this process or, on PostgreSQL, any node."""

    async def record_pull_request_opened(
        self,
        repository: str,
        number: int,
        branch: str,
        job_id: str,
        installation_id: int | None,
    ) -> bool:
        """Keep a pull request fixwright's fix job opened (the first record stands): only pull
        requests kept so are ever counted in the outcomes."""

    async def record_pull_request_change(self, change: PullRequestChange) -> Recorded:
        """Move a kept pull request by a close (merged or not) or a reopen, unless a newer change
        already did; refresh its follow-up rounds and cost. Others: `Recorded(None)`."""

    async def record_pull_request_review(
        self, repository: str, number: int, review_id: int, state: str, reviewer: str, at: float
    ) -> bool:
        """Keep a review's approval or request for changes on a kept pull request, once."""

    async def pull_request_outcome(
        self, repository: str, number: int
    ) -> PullRequestOutcome | None: ...

    async def pull_request_outcomes(
        self, since: float, repository: str = ""
    ) -> list[PullRequestOutcome]:
        """The kept pull requests opened since `since` (of one repository when given)."""

    async def pull_request_counts(self) -> dict[str, int]:
        """How many kept pull requests are open, merged and closed now."""

    async def record_review_findings(self, findings: list[PostedFinding]) -> int:
        """Keep the findings a review posted (each once); how many were new."""

    async def open_review_findings(self, repository: str, number: int) -> list[PostedFinding]:
        """A pull request's findings no later commit has addressed yet."""

    async def mark_findings_addressed(self, keys: list[tuple[str, int]], commit_sha: str) -> int:
        """Mark findings (job id, position) addressed by a commit; how many were not already."""

    async def review_finding_counts(
        self, since: float, repository: str = ""
    ) -> dict[str, tuple[int, int]]:
        """Per repository, the findings posted since `since` and how many were addressed."""

    async def beat_worker(self, worker: WorkerRecord) -> None:
        """Register a worker process or refresh its heartbeat (a lost one is alive again)."""

    async def remove_worker(self, worker_id: str) -> bool:
        """A worker process stopped on purpose leaves the registry."""

    async def workers(self) -> list[WorkerRecord]:
        """Every registered worker process, the longest-running first."""

    async def mark_lost_workers(self, before: float) -> list[str]:
        """Mark lost the worker processes whose last heartbeat is older than `before`, and end
        their workers' leases so `reclaim_expired` takes their jobs back now."""

    async def claim_quota_slot(
        self, job_id: str, installation_id: int, holder: str, limit: int, hold_seconds: float
    ) -> int | None:
        """Give a leased job one of its installation's `limit` places among the running jobs
        (0: no limit), atomically across nodes: None when it has one, else how many jobs hold
        them. The place is the job's while it runs under `holder`'s lease (at most
        `hold_seconds`); then the next claim or reservation gives it back."""

    async def reserve_day_budget(
        self,
        hold: str,
        installation_id: int,
        holder: str,
        day: str,
        limits: DayLimits,
        ask: int | None,
        hold_seconds: float,
    ) -> DayReservation:
        """Reserve at most `ask` tokens (None: all there is) of what the installation's day has
        left after its spend and the reservations of runs in flight on every node, under
        `hold` (the job's id), atomically across nodes; replaces the hold's earlier one."""

    async def settle_day_budget(
        self, hold: str, installation_id: int, day: str, tokens: int, cost_usd: float
    ) -> DailyUsage:
        """Charge a run's spend to its day and drop its reservation, in one step."""

    async def queue_by_kind(self) -> list[KindQueue]:
        """Jobs not finished, by kind and state, across the cluster (the shared store)."""

    async def create_schedule(self, schedule: Schedule) -> bool:
        """Keep a new schedule; False when its repository has one of that name already."""

    async def schedule(self, schedule_id: str) -> Schedule | None: ...

    async def schedules(self, repository: str = "") -> list[ScheduleView]:
        """Every schedule (of one repository when given), with its latest slot."""

    async def schedule_slots(self, schedule_id: str) -> list[Slot]:
        """A schedule's slots, oldest first: each fired (its job) or skipped (the reason)."""

    async def pause_schedule(self, schedule_id: str, paused: bool) -> bool: ...

    async def delete_schedule(self, schedule_id: str) -> bool: ...

    async def replace_repository_schedules(
        self, repository: str, schedules: list[Schedule]
    ) -> ScheduleSync:
        """Make the repository's declared schedules (`source='repository'`) exactly these, in
        one transaction; the operator's are untouched, and one kept by name keeps its id and
        slots (so it does not fire again)."""

    async def claim_schedule_slot(
        self, schedule_id: str, slot_at: float, node: str, skip_reason: str, job: NewJob, task: Task
    ) -> SlotClaim:
        """Own the slot and, in the same transaction, queue its job (with its task row) or
        record why it is skipped; `claimed` False when another node owns it already."""


def dumps(data: Mapping[str, Any] | None) -> str:
    return json.dumps(data or {}, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}
