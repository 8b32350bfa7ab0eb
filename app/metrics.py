"""The service's Prometheus metrics, on a registry built at start (a fresh one per test)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from githubkit import GitHub
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.samples import Sample

from app.store.queue_stats import OPEN_STATES, KindQueue
from app.store.workers import WorkerRecord
from sandbox.usage import TOKEN_FIELDS

if TYPE_CHECKING:
    from app.store.model import Store

# The model API's token kinds, as the `kind` label names them.
TOKEN_KINDS = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation_input_tokens": "cache_write",
}


@dataclass(frozen=True)
class Declared:
    """One metric: its kind, name, help text, labels (few, with bounded values), buckets."""

    make: type[Counter] | type[Gauge] | type[Histogram]
    name: str
    text: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def register(self, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
        if self.make is Histogram:
            return Histogram(
                self.name, self.text, self.labels, buckets=self.buckets, registry=registry
            )
        return self.make(self.name, self.text, self.labels, registry=registry)


# What became of a fix's verification: its tests pass or fail after the change, no command was
# known, or they could not run to their end (the environment, the time limit).
VERIFICATION_RESULTS = ("passed", "failed", "not_verified", "error")

# Every metric the service exports, by its field on `Metrics` (docs/metrics.md lists them all).
DECLARED = {
    "deliveries": Declared(
        Counter,
        "fixwright_webhook_deliveries",
        "Webhook deliveries received, by event and outcome.",
        ("event", "outcome"),
    ),
    "intake_seconds": Declared(
        Histogram,
        "fixwright_webhook_intake_seconds",
        "Time to verify, record and answer a webhook delivery.",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    ),
    "jobs_finished": Declared(
        Counter,
        "fixwright_jobs_finished",
        "Jobs that ended, by kind and final state.",
        ("kind", "state"),
    ),
    "job_seconds": Declared(
        Histogram,
        "fixwright_job_duration_seconds",
        "Time from a job's lease to its end, by kind.",
        ("kind",),
        buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
    ),
    "queue_depth": Declared(
        Gauge, "fixwright_queue_depth", "Jobs waiting for a worker, on every node together."
    ),
    "queue_jobs": Declared(
        Gauge,
        "fixwright_queue_jobs",
        "Jobs not finished on every node together, by kind and state (queued, running,"
        " awaiting_approval).",
        ("kind", "state"),
    ),
    "queue_oldest_age": Declared(
        Gauge,
        "fixwright_queue_oldest_age_seconds",
        "How long the oldest waiting job of a kind has waited (0 when none waits).",
        ("kind",),
    ),
    "worker_running_jobs": Declared(
        Gauge,
        "fixwright_worker_running_jobs",
        "Jobs each live worker process runs, as its last heartbeat in the registry said.",
        ("worker", "host"),
    ),
    "worker_capacity": Declared(
        Gauge,
        "fixwright_worker_capacity",
        "Jobs each live worker process may run at once, from the registry.",
        ("worker", "host"),
    ),
    "worker_processes": Declared(
        Gauge,
        "fixwright_worker_processes",
        "Worker processes in the registry, by state (alive, lost).",
        ("state",),
    ),
    "running_containers": Declared(
        Gauge, "fixwright_sandbox_containers_running", "Sandbox containers this process runs now."
    ),
    "model_tokens": Declared(
        Counter,
        "fixwright_model_tokens",
        "Model tokens used by finished runs, by kind, installation and model.",
        ("kind", "installation", "model"),
    ),
    "cost_usd": Declared(
        Counter,
        "fixwright_model_cost_usd",
        "What finished runs cost in US dollars, by installation.",
        ("installation",),
    ),
    "relay_refusals": Declared(
        Counter,
        "fixwright_relay_refusals",
        "Model requests the relay refused, by reason.",
        ("reason",),
    ),
    "quota_refusals": Declared(
        Counter,
        "fixwright_quota_refusals",
        "Jobs refused before they started, by the limit they reached.",
        ("limit",),
    ),
    "quota_remaining_ratio": Declared(
        Gauge,
        "fixwright_quota_remaining_ratio",
        "Share of today's daily limit still available, by installation and limit.",
        ("installation", "limit"),
    ),
    "github_calls": Declared(
        Counter,
        "fixwright_github_api_calls",
        "GitHub API calls made for jobs, by outcome (status class, or error).",
        ("outcome",),
    ),
    "github_rate_limit_remaining": Declared(
        Gauge,
        "fixwright_github_rate_limit_remaining",
        "GitHub's x-ratelimit-remaining on the last response that carried it.",
    ),
    "worker_heartbeats": Declared(
        Counter,
        "fixwright_worker_heartbeats",
        "Lease heartbeats of running jobs, by outcome (kept, lost).",
        ("outcome",),
    ),
    "worker_last_heartbeat": Declared(
        Gauge,
        "fixwright_worker_last_heartbeat_timestamp_seconds",
        "Unix time a worker of this process last polled or heartbeat.",
    ),
    "workers_busy": Declared(
        Gauge, "fixwright_workers_busy", "Workers of this process running a job."
    ),
    "reconciler_runs": Declared(
        Counter,
        "fixwright_reconciler_runs",
        "Runs of the missed-delivery reconciler, by outcome (ok, failed).",
        ("outcome",),
    ),
    "reconciler_redeliveries": Declared(
        Counter,
        "fixwright_reconciler_redeliveries",
        "Deliveries the reconciler asked GitHub to send again.",
    ),
    "environments": Declared(
        Counter,
        "fixwright_environments",
        "Environments a job asked for, by outcome (cached, prepared, failed).",
        ("outcome",),
    ),
    "environment_seconds": Declared(
        Histogram,
        "fixwright_environment_setup_seconds",
        "Time to prepare an environment that was not cached (build, set-up, commit).",
        buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1800),
    ),
    "egress_refusals": Declared(
        Counter,
        "fixwright_egress_refusals",
        "Connections the allow-list proxy refused, by phase (setup, agent).",
        ("phase",),
    ),
    "verifications": Declared(
        Counter,
        "fixwright_verifications",
        "Fixes whose tests the host ran before and after the change, by result (passed, failed,"
        " not_verified, error).",
        ("result",),
    ),
    "retention_runs": Declared(
        Counter,
        "fixwright_retention_runs",
        "Runs of the retention sweep, by outcome (ok, failed).",
        ("outcome",),
    ),
    "retention_removed": Declared(
        Counter,
        "fixwright_retention_removed",
        "What retention sweeps removed, by record (deliveries, job_payloads, job_events,"
        " notices, audit, conversations, approvals, webhook_deliveries, workspaces, mirrors).",
        ("record",),
    ),
    "outgoing_webhooks": Declared(
        Counter,
        "fixwright_outgoing_webhook_attempts",
        "Attempts to send tasks' outgoing webhooks, by outcome (delivered, retrying, failed).",
        ("outcome",),
    ),
    # What became of fixwright's pull requests (app/outcome_metrics.py, handlers/outcomes/).
    "pull_requests": Declared(
        Gauge,
        "fixwright_pull_requests",
        "Pull requests fixwright opened, by what they are now (open, merged, closed).",
        ("outcome",),
    ),
    "pull_request_merge_seconds": Declared(
        Histogram,
        "fixwright_pull_request_merge_seconds",
        "Time from fixwright opening a pull request to its merge.",
        buckets=(600, 3600, 14400, 43200, 86400, 172800, 345600, 604800, 1209600, 2592000),
    ),
    "merged_pull_request_cost": Declared(
        Histogram,
        "fixwright_merged_pull_request_cost_usd",
        "What the jobs behind a merged pull request cost in US dollars, observed at its merge.",
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50),
    ),
    "review_findings": Declared(
        Counter,
        "fixwright_review_findings",
        "Findings fixwright's reviews posted, and those a later commit addressed, by state.",
        ("state",),
    ),
}


@dataclass(frozen=True)
class Metrics:
    """The registry and each metric of `DECLARED`, as typed fields."""

    registry: CollectorRegistry
    deliveries: Counter
    intake_seconds: Histogram
    jobs_finished: Counter
    job_seconds: Histogram
    queue_depth: Gauge
    queue_jobs: Gauge
    queue_oldest_age: Gauge
    worker_running_jobs: Gauge
    worker_capacity: Gauge
    worker_processes: Gauge
    running_containers: Gauge
    model_tokens: Counter
    cost_usd: Counter
    relay_refusals: Counter
    quota_refusals: Counter
    quota_remaining_ratio: Gauge
    github_calls: Counter
    github_rate_limit_remaining: Gauge
    worker_heartbeats: Counter
    worker_last_heartbeat: Gauge
    workers_busy: Gauge
    reconciler_runs: Counter
    reconciler_redeliveries: Counter
    environments: Counter
    environment_seconds: Histogram
    egress_refusals: Counter
    verifications: Counter
    retention_runs: Counter
    retention_removed: Counter
    outgoing_webhooks: Counter
    pull_requests: Gauge
    pull_request_merge_seconds: Histogram
    merged_pull_request_cost: Histogram
    review_findings: Counter


def create_metrics() -> Metrics:
    """Every declared metric, on a registry of its own (a fresh one per test)."""
    registry = CollectorRegistry()
    made = {field: declared.register(registry) for field, declared in DECLARED.items()}
    return Metrics(registry=registry, **made)  # type: ignore[arg-type]  # DECLARED holds each field's type


def record_run_usage(
    metrics: Metrics,
    installation_id: int | None,
    model: str,
    tokens: Mapping[str, int],
    cost_usd: float,
) -> None:
    """Count one run's tokens by kind and its cost, under the installation and model family."""
    installation = str(installation_id or "none")
    for field in TOKEN_FIELDS:
        count = tokens.get(field, 0)
        if count:
            metrics.model_tokens.labels(
                kind=TOKEN_KINDS[field], installation=installation, model=model
            ).inc(count)
    if cost_usd > 0:
        metrics.cost_usd.labels(installation=installation).inc(cost_usd)


def github_outcome(status: int) -> str:
    """A bounded label for one GitHub response."""
    if status in (403, 429):
        return "rate_limited_or_forbidden"
    return f"{status // 100}xx"


def github_response_hook(metrics: Metrics) -> Callable[[httpx.Response], Awaitable[None]]:
    """An httpx response hook counting GitHub calls and keeping the last rate-limit remaining."""

    async def observe(response: httpx.Response) -> None:
        metrics.github_calls.labels(outcome=github_outcome(response.status_code)).inc()
        remaining = response.headers.get("x-ratelimit-remaining", "")
        if remaining.isdigit():
            metrics.github_rate_limit_remaining.set(int(remaining))

    return observe


def mark_heartbeat(metrics: Metrics) -> None:
    metrics.worker_last_heartbeat.set(time.time())


async def watch_github_calls(github: GitHub[Any], metrics: Metrics) -> None:
    """Count the calls of a job's GitHub client (githubkit's HTTP client for the job's session)."""
    async with github.get_async_client() as http:
        hooks = http.event_hooks
        hooks["response"].append(github_response_hook(metrics))
        http.event_hooks = hooks


def start_job_series(metrics: Metrics, kinds: list[str]) -> None:
    """Export every (kind, state), verification result and findings state at 0 from the start,
    so a first job or finding shows as an increase."""
    for result in VERIFICATION_RESULTS:
        metrics.verifications.labels(result=result)
    for state in ("posted", "addressed"):
        metrics.review_findings.labels(state=state)
    for kind in kinds:
        metrics.job_seconds.labels(kind=kind)
        for state in ("succeeded", "failed", "cancelled"):
            metrics.jobs_finished.labels(kind=kind, state=state)
        metrics.queue_oldest_age.labels(kind=kind)
        for state in OPEN_STATES:
            metrics.queue_jobs.labels(kind=kind, state=state)


def set_queue_gauges(metrics: Metrics, rows: list[KindQueue], now: float) -> None:
    """The cluster's queue by kind, as the shared store has it: each (kind, state) counted now,
    and every series shown before but empty now set to 0 (not dropped, so graphs fall to 0)."""
    counts = {(row.kind, row.state): row.jobs for row in rows}
    oldest = {
        row.kind: max(0.0, now - row.oldest_created_at)
        for row in rows
        if row.state == "queued" and row.oldest_created_at is not None
    }
    shown = {(s.labels["kind"], s.labels["state"]) for s in samples_of(metrics.queue_jobs)}
    for kind, state in shown | set(counts):
        metrics.queue_jobs.labels(kind=kind, state=state).set(counts.get((kind, state), 0))
    kinds = {s.labels["kind"] for s in samples_of(metrics.queue_oldest_age)}
    for kind in kinds | {kind for kind, _ in counts}:
        metrics.queue_oldest_age.labels(kind=kind).set(oldest.get(kind, 0.0))


def set_worker_gauges(metrics: Metrics, workers: list[WorkerRecord]) -> None:
    """Each live worker process's running jobs and capacity, from the registry (the same on
    every node); a process lost or gone drops out, so the series stay as many as the processes."""
    metrics.worker_running_jobs.clear()
    metrics.worker_capacity.clear()
    for state in ("alive", "lost"):
        lost = state == "lost"
        metrics.worker_processes.labels(state=state).set(
            sum(1 for worker in workers if (worker.lost_at is not None) == lost)
        )
    for worker in workers:
        if worker.lost_at is None:
            labels = {"worker": worker.id, "host": worker.host}
            metrics.worker_running_jobs.labels(**labels).set(len(worker.running))
            metrics.worker_capacity.labels(**labels).set(worker.capacity)


async def refresh_cluster_gauges(store: Store, metrics: Metrics, now: float) -> None:
    """Set the gauges read from the shared store just before a scrape: the queue (in all and
    by kind) and the worker registry. Every node reports the same figures: aggregate them across
    nodes with `max`, not `sum`."""
    queue = await store.queue_stats()
    metrics.queue_depth.set(queue.depth)
    set_queue_gauges(metrics, await store.queue_by_kind(), now)
    set_worker_gauges(metrics, await store.workers())


def samples_of(gauge: Gauge) -> list[Sample]:
    return [sample for family in gauge.collect() for sample in family.samples]
