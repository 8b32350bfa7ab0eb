"""The gauge of fixwright's pull requests by outcome, read from the store at each scrape: the
store is the one truth across nodes and restarts, and a count that falls as well as rises (an
open pull request merged, a closed one reopened) is a gauge, not a counter."""

from __future__ import annotations

from app.metrics import Metrics
from app.store.model import Store


async def refresh_pull_request_gauge(store: Store, metrics: Metrics) -> None:
    """Set `fixwright_pull_requests{outcome}` from the store's counts (every outcome, 0 too)."""
    for outcome, count in (await store.pull_request_counts()).items():
        metrics.pull_requests.labels(outcome=outcome).set(count)
