"""The service's Prometheus metrics, on a registry built at start (a fresh one per test)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    deliveries: Counter
    intake_seconds: Histogram
    jobs_finished: Counter
    job_seconds: Histogram


def create_metrics() -> Metrics:
    """Every metric the service exports; labels have few, bounded values."""
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        deliveries=Counter(
            "fixwright_webhook_deliveries",
            "Webhook deliveries received, by event and outcome.",
            ["event", "outcome"],
            registry=registry,
        ),
        intake_seconds=Histogram(
            "fixwright_webhook_intake_seconds",
            "Time to verify, record and answer a webhook delivery.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        ),
        jobs_finished=Counter(
            "fixwright_jobs_finished",
            "Jobs that ended, by kind and final state.",
            ["kind", "state"],
            registry=registry,
        ),
        job_seconds=Histogram(
            "fixwright_job_duration_seconds",
            "Time from a job's lease to its end, by kind.",
            ["kind"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
            registry=registry,
        ),
    )
