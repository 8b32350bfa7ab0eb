"""Missed deliveries are asked for again: only GUIDs that never succeeded and were never recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.github_app import GitHubApp
from app.reconcile import MARKER, Attempt, lost_deliveries, next_cursor, reconcile, window_start
from app.store import Delivery
from app.store.sqlite import SQLiteStore
from tests.fakes.github.api_hook_deliveries import HookDelivery
from tests.fakes.github.fixtures import FakeGitHub
from tests.waiting import wait_for

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def attempt(id: int, guid: str, status: int, minutes_ago: int) -> Attempt:
    return Attempt(id, guid, status, NOW - timedelta(minutes=minutes_ago))


def test_only_guids_without_success_or_record_are_lost() -> None:
    """[fail, fail] is lost (its latest attempt is redelivered); [fail, OK] and recorded ones are not."""
    attempts = [
        attempt(1, "lost", 502, 30),
        attempt(2, "lost", 502, 20),
        attempt(3, "recovered", 502, 30),
        attempt(4, "recovered", 202, 25),
        attempt(5, "recorded", 503, 10),
    ]
    assert [a.id for a in lost_deliveries(attempts, recorded={"recorded"})] == [2]


def test_the_window_starts_at_the_last_run_but_never_beyond_three_days() -> None:
    """First run: one hour back; later runs: since the last; a stale marker is capped at GitHub's window."""
    assert window_start(None, NOW) == NOW - timedelta(hours=1)
    assert window_start((NOW - timedelta(minutes=5)).isoformat(), NOW) == NOW - timedelta(minutes=5)
    assert window_start((NOW - timedelta(days=30)).isoformat(), NOW) == NOW - timedelta(days=3)


def test_the_next_cursor_is_read_from_the_link_header() -> None:
    """GitHub paginates the delivery log with a cursor in the rel="next" link."""
    link = '<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_42>; rel="next"'
    assert next_cursor(link) == "v1_42"
    assert next_cursor("") is None


async def test_reconcile_redelivers_only_the_lost_guid_once(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Against the fake's delivery log (paged 100 at a time): one redelivery, and a second run asks nothing."""
    now = datetime.now(UTC)
    log = fake_github.state.hook_deliveries
    log += [
        HookDelivery(10, "guid-lost", 502, delivered_at=now - timedelta(minutes=9)),
        HookDelivery(11, "guid-lost", 502, delivered_at=now - timedelta(minutes=8)),
        HookDelivery(12, "guid-recovered", 502, delivered_at=now - timedelta(minutes=7)),
        HookDelivery(13, "guid-recovered", 202, delivered_at=now - timedelta(minutes=6)),
        HookDelivery(14, "guid-stored", 502, delivered_at=now - timedelta(minutes=5)),
    ]
    log += [
        HookDelivery(1000 + n, f"ok-{n}", 202, delivered_at=now - timedelta(seconds=n))
        for n in range(150)
    ]
    store = SQLiteStore(tmp_path / "fixwright.db")
    await store.record_delivery(Delivery("guid-stored", "issues"), [])
    client = GitHubApp(fake_github.settings()).app_client()

    report = await reconcile(client, store)
    assert report.redelivered == ("guid-lost",)
    assert fake_github.state.redelivery_requests == [11]
    assert await store.get_marker(MARKER) is not None

    again = await reconcile(client, store)
    assert again.redelivered == ()
    assert fake_github.state.redelivery_requests == [11]
    await store.close()


def test_the_service_reconciles_at_start_up(service_process, fake_github: FakeGitHub) -> None:
    """A delivery that failed while the service was down is asked for again when it starts."""
    fake_github.state.hook_deliveries.append(
        HookDelivery(77, "guid-missed", 503, delivered_at=datetime.now(UTC) - timedelta(minutes=2))
    )
    service_process.start()
    wait_for(lambda: fake_github.state.redelivery_requests == [77])
    # The run records its mark in the store before it logs, so the line may follow the request.
    ran = wait_for(
        lambda: [line for line in service_process.log_lines() if line["event"] == "reconciler.ran"]
    )
    assert ran[0]["redelivered"] == ["guid-missed"]
