"""Writes to GitHub are paced per installation: a second apart, comments and PRs three apart."""

from __future__ import annotations

import asyncio
import contextlib

from app.github_app import GitHubApp
from app.github_pacing import (
    CallKind,
    InstallationPacer,
    LastCalls,
    PacingRules,
    after_call,
    call_kind,
    seconds_to_wait,
)
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub

RULES = PacingRules(write_interval=1.0, content_interval=3.0)
REPO = "/repos/octo-org/hello"


def test_calls_are_sorted_into_reads_writes_content_and_app_calls() -> None:
    """Comments, issues, PRs and reviews create content; other mutations are writes; JWT calls are free."""
    assert call_kind("GET", f"{REPO}/issues/1/comments") is CallKind.READ
    assert call_kind("POST", f"{REPO}/issues/1/comments") is CallKind.CONTENT
    assert call_kind("POST", f"{REPO}/issues") is CallKind.CONTENT
    assert call_kind("POST", f"{REPO}/pulls") is CallKind.CONTENT
    assert call_kind("POST", f"{REPO}/pulls/7/reviews") is CallKind.CONTENT
    assert call_kind("POST", f"{REPO}/pulls/7/comments/9/replies") is CallKind.CONTENT
    assert call_kind("PATCH", f"{REPO}/issues/comments/5") is CallKind.WRITE
    assert call_kind("POST", f"{REPO}/issues/1/reactions") is CallKind.WRITE
    assert call_kind("POST", f"{REPO}/check-runs") is CallKind.WRITE
    assert call_kind("DELETE", f"{REPO}/issues/1/labels/bug") is CallKind.WRITE
    assert call_kind("POST", "/app/installations/1/access_tokens") is CallKind.UNPACED
    assert call_kind("DELETE", "/installation/token") is CallKind.UNPACED


def test_the_api_prefix_of_an_enterprise_server_is_ignored() -> None:
    """On GitHub Enterprise Server the API lives under /api/v3; the same paths are recognised."""
    assert call_kind("POST", f"/api/v3{REPO}/pulls", "/api/v3") is CallKind.CONTENT
    assert call_kind("POST", "/api/v3/app/installations/1/access_tokens", "/api/v3/") is (
        CallKind.UNPACED
    )


def test_a_first_write_goes_at_once_and_reads_never_wait() -> None:
    """Nothing written yet: no wait; a read waits for nothing even right after a write."""
    assert seconds_to_wait(CallKind.CONTENT, 100.0, LastCalls(), RULES) == 0.0
    just_wrote = LastCalls(write=100.0, content=100.0)
    assert seconds_to_wait(CallKind.READ, 100.0, just_wrote, RULES) == 0.0
    assert seconds_to_wait(CallKind.UNPACED, 100.0, just_wrote, RULES) == 0.0


def test_writes_wait_for_the_write_interval() -> None:
    """A write 0.25 s after another waits the remaining 0.75 s; after 2 s it goes at once."""
    last = LastCalls(write=100.0)
    assert seconds_to_wait(CallKind.WRITE, 100.25, last, RULES) == 0.75
    assert seconds_to_wait(CallKind.WRITE, 102.0, last, RULES) == 0.0


def test_content_waits_for_the_content_interval_but_plain_writes_do_not() -> None:
    """1.5 s after a comment a second comment waits 1.5 s more, while a PATCH may go now."""
    last = after_call(CallKind.CONTENT, 100.0, LastCalls())
    assert last == LastCalls(write=100.0, content=100.0)
    assert seconds_to_wait(CallKind.CONTENT, 101.5, last, RULES) == 1.5
    assert seconds_to_wait(CallKind.WRITE, 101.5, last, RULES) == 0.0


def test_content_also_keeps_the_write_interval_after_a_plain_write() -> None:
    """A comment 0.5 s after a PATCH waits 0.5 s even when the last comment is long past."""
    last = after_call(CallKind.WRITE, 110.0, LastCalls(write=90.0, content=90.0))
    assert last == LastCalls(write=110.0, content=90.0)
    assert seconds_to_wait(CallKind.CONTENT, 110.5, last, RULES) == 0.5


def test_reads_leave_the_last_calls_alone() -> None:
    """Reads do not push later writes back."""
    last = LastCalls(write=5.0, content=3.0)
    assert after_call(CallKind.READ, 9.0, last) == last


async def test_the_pacer_spaces_a_burst_on_its_clock() -> None:
    """Three comments and a PATCH asked for at once start at 0, 3, 6 and 7 s by the pacer's clock."""
    now = [0.0]
    starts: list[tuple[CallKind, float]] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = InstallationPacer(RULES, clock=lambda: now[0], sleep=sleep)

    async def call(kind: CallKind) -> None:
        async with pacer.turn(kind):
            starts.append((kind, now[0]))

    kinds = [CallKind.CONTENT, CallKind.CONTENT, CallKind.CONTENT, CallKind.WRITE]
    await asyncio.gather(*(call(kind) for kind in kinds))
    assert starts == [
        (CallKind.CONTENT, 0.0),
        (CallKind.CONTENT, 3.0),
        (CallKind.CONTENT, 6.0),
        (CallKind.WRITE, 7.0),
    ]


async def test_two_jobs_of_one_installation_share_one_pacer_on_the_wire(
    fake_github: FakeGitHub,
) -> None:
    """A second job's comment, on a client of its own, waits out the first job's comment: it
    never reaches GitHub while the installation's content interval runs, though its reads do."""
    app = GitHubApp(fake_github.settings(github_content_interval_seconds=3600))
    comments = f"/repos/{REPOSITORY}/issues/1/comments"

    def posted() -> list[str]:
        return [path for method, path, _ in fake_github.state.arrivals if method == "POST"]

    async with (
        app.for_job(INSTALLATION_ID, REPOSITORY, {"issues": "write"}) as first,
        # Different permissions: a separate token and client, the same installation.
        app.for_job(INSTALLATION_ID, REPOSITORY, {"issues": "write", "metadata": "read"}) as second,
    ):
        await first.rest.issues.async_create_comment("octo-org", "hello", 1, body="first")
        await second.rest.issues.async_get("octo-org", "hello", 1)  # its token is minted now
        held = asyncio.ensure_future(
            second.rest.issues.async_create_comment("octo-org", "hello", 1, body="second")
        )
        # Reads are not held back: by the time one has gone to GitHub and back after the
        # comment was asked for, an unpaced comment would have arrived first.
        for _ in range(3):
            await second.rest.issues.async_get("octo-org", "hello", 1)
        assert posted().count(comments) == 1
        assert not held.done()
        held.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await held
    assert [c.body for c in fake_github.state.issue_comments(REPOSITORY, 1)] == ["first"]
    minting = [path for _, path, _ in fake_github.state.arrivals if path.endswith("/access_tokens")]
    assert len(minting) == 2  # minted with the App's JWT, outside the installation's pacing
