"""Missed-delivery reconciliation: GitHub never redelivers a failed webhook by itself, so we ask.

The App's delivery log (`GET /app/hook/deliveries`) lists every attempt. A GUID none of whose
attempts succeeded, and that the store has not recorded, was lost (the service was down, or
answered 5xx while shutting down): we ask GitHub to redeliver it once. De-duplication by
delivery id makes a redelivery of something already processed harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from githubkit import GitHub
from githubkit.exception import GitHubException
from githubkit.utils import UNSET

from app.log import get_logger
from app.metrics import Metrics
from app.store import Store

if TYPE_CHECKING:
    from githubkit_schemas.latest.models import HookDeliveryItem

MARKER = "reconciler.last_run"
# GitHub keeps an App's delivery log for three days; older attempts cannot be redelivered.
GITHUB_WINDOW = timedelta(days=3)
FIRST_RUN_LOOKBACK = timedelta(hours=1)
PAGE_SIZE = 100


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as the App's delivery log lists it."""

    id: int
    guid: str
    status_code: int
    delivered_at: datetime
    event: str = ""

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class ReconcileReport:
    since: datetime
    attempts_seen: int
    redelivered: tuple[str, ...]  # GUIDs
    already_recorded: int


def lost_deliveries(attempts: Iterable[Attempt], recorded: set[str]) -> list[Attempt]:
    """For each GUID with no successful attempt and no record here, its latest attempt (to redeliver)."""
    by_guid: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_guid.setdefault(attempt.guid, []).append(attempt)
    lost = []
    for guid, tries in by_guid.items():
        if guid in recorded or any(attempt.succeeded for attempt in tries):
            continue
        lost.append(max(tries, key=lambda attempt: attempt.delivered_at))
    return sorted(lost, key=lambda attempt: attempt.delivered_at)


def window_start(last_run: str | None, now: datetime) -> datetime:
    """Back to the last run (or an hour on the first), never beyond GitHub's three days."""
    since = datetime.fromisoformat(last_run) if last_run else now - FIRST_RUN_LOOKBACK
    return max(since, now - GITHUB_WINDOW)


def attempt_of(item: HookDeliveryItem) -> Attempt:
    return Attempt(
        id=item.id,
        guid=item.guid,
        status_code=item.status_code,
        delivered_at=item.delivered_at,
        event=item.event,
    )


async def list_attempts(app_client: GitHub[Any], since: datetime) -> list[Attempt]:
    """The delivery log back to `since` (newest first, following the cursor)."""
    attempts: list[Attempt] = []
    cursor: str | None = None
    while True:
        response = await app_client.rest.apps.async_list_webhook_deliveries(
            per_page=PAGE_SIZE, cursor=cursor or UNSET
        )
        page = [attempt_of(item) for item in response.parsed_data]
        attempts.extend(attempt for attempt in page if attempt.delivered_at >= since)
        cursor = next_cursor(response.headers.get("link", ""))
        if not page or page[-1].delivered_at < since or cursor is None:
            return attempts


def next_cursor(link_header: str) -> str | None:
    """The `cursor` of the rel="next" link, if any."""
    for part in link_header.split(","):
        if 'rel="next"' in part and "cursor=" in part:
            return part.split("cursor=", 1)[1].split("&", 1)[0].split(">", 1)[0]
    return None


async def reconcile(
    app_client: GitHub[Any], store: Store, *, now: datetime | None = None
) -> ReconcileReport:
    """Redeliver what GitHub failed to deliver since the last run, and remember this run."""
    now = now or datetime.now(UTC)
    since = window_start(await store.get_marker(MARKER), now)
    attempts = await list_attempts(app_client, since)
    guids = {attempt.guid for attempt in attempts}
    recorded = {guid for guid in guids if await store.has_delivery(guid)}
    lost = lost_deliveries(attempts, recorded)
    for attempt in lost:
        await app_client.rest.apps.async_redeliver_webhook_delivery(attempt.id)
    await store.set_marker(MARKER, now.isoformat())
    return ReconcileReport(
        since=since,
        attempts_seen=len(attempts),
        redelivered=tuple(attempt.guid for attempt in lost),
        already_recorded=len(recorded),
    )


def describe(report: ReconcileReport) -> Sequence[str]:
    return [
        f"looked at {report.attempts_seen} delivery attempts since {report.since:%Y-%m-%d %H:%M} UTC",
        f"{report.already_recorded} failed-looking deliveries were already recorded here",
        f"asked GitHub to redeliver {len(report.redelivered)}: {', '.join(report.redelivered) or 'none'}",
    ]


async def reconcile_periodically(
    app_client: GitHub[Any], store: Store, metrics: Metrics, interval_seconds: float
) -> None:
    """At start-up and then every `interval_seconds`: a failed run is logged and tried next time."""
    log = get_logger()
    while True:
        try:
            report = await reconcile(app_client, store)
        except (GitHubException, OSError) as error:
            metrics.reconciler_runs.labels(outcome="failed").inc()
            log.warning("reconciler.failed", error=type(error).__name__, detail=str(error)[:200])
        else:
            metrics.reconciler_runs.labels(outcome="ok").inc()
            metrics.reconciler_redeliveries.inc(len(report.redelivered))
            log.info(
                "reconciler.ran",
                attempts_seen=report.attempts_seen,
                redelivered=list(report.redelivered),
                since=report.since.isoformat(),
            )
        await asyncio.sleep(interval_seconds)
