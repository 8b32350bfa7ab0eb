"""End to end: the live job page in a real browser (Debian's Chromium, driven by Playwright)
against `fixwright serve` on a real port, while the real CLI works in the sandbox.

The link comes from the progress comment, as a maintainer would follow it; an event the job
appends while the page is open shows on it without a reload (pushed over the stream; how soon is
measured by bench/sse_fanout.py, not asserted here); at the end the page shows the changed files.
A screenshot of the finished page is kept in `test-artifacts/` (CI keeps that directory).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import NEW_LINE, OLD_LINE, SUMMARY, label_delivery
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

# Debian's package installs the browser here (/usr/bin/chromium is a wrapper script); no browser
# build is ever downloaded.
CHROMIUM = "/usr/lib/chromium/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
GREET = "/workspace/hello/greet.py"
# A command that takes a while, so the page is open while the job still works.
SLOW_COMMAND = "sleep 3 && python3 -c 'print(6 * 7)'"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless=new"])
        try:
            yield launched
        finally:
            launched.close()


def live_link(fake_github: FakeGitHub) -> str:
    """The job page's link in the progress comment on issue 1."""
    for comment in fake_github.state.issue_comments(REPOSITORY, 1):
        found = re.search(r"\[live log\]\((\S+?)\)", comment.body)
        if found:
            return found[1]
    return ""


def stored_events(store_path: Path, job_id: str, after: int) -> list[tuple[int, str, float]]:
    """The job's events after `after` as the service stored them: (seq, kind, at)."""
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT seq, kind, at FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq",
            (job_id, after),
        ).fetchall()
    return [(int(seq), str(kind), float(at)) for seq, kind, at in rows]


def test_the_job_page_shows_each_event_live_and_the_changed_files_at_the_end(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    browser: Browser,
) -> None:
    service = agent_service_process.start(
        FIXWRIGHT_PUBLIC_URL=f"http://127.0.0.1:{agent_service_process.port}",
        FIXWRIGHT_SSE_HEARTBEAT_SECONDS="2",
    )
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.read(GREET),
                Scenario.run(SLOW_COMMAND, "Run a slow check"),
                Scenario.edit_file(GREET, OLD_LINE, NEW_LINE),
                Scenario.say(SUMMARY),
            ]
        )
    )
    service.post("issues", label_delivery(fake_github))
    link = wait_for(lambda: live_link(fake_github), timeout=60)
    job_id = link.split("/jobs/", 1)[1].split("?", 1)[0]

    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone's screen
    page.goto(link)
    page.wait_for_selector("text=Live: new events appear", timeout=20_000)
    shown = page.eval_on_selector_all("li[data-seq]", "items => items.map(i => +i.dataset.seq)")
    last = max(shown, default=0)

    # The next event Claude's run appends that the page lists shows on it, pushed: the page is
    # the same document throughout (a reload would lose the mark).
    page.evaluate("window.fixwrightTestMark = 'same page'")
    listed = ("text", "tool_call", "tool_result", "files", "status", "verification")
    deadline = time.monotonic() + 90
    new = None
    while new is None and time.monotonic() < deadline:
        new = next(
            (e for e in stored_events(service.store_path, job_id, last) if e[1] in listed), None
        )
        if new is None:
            time.sleep(0.02)
    assert new is not None, "the job appended no event while the page was open"
    seq, kind, _ = new
    page.wait_for_selector(f'li[data-seq="{seq}"]', state="attached", timeout=30_000)
    assert page.evaluate("window.fixwrightTestMark") == "same page"

    # At the end the page reloads with the whole log: the files the fix changed, and how.
    page.wait_for_selector("li.completed", timeout=120_000)
    files = page.text_content("table.files") or ""
    assert "hello/greet.py" in files and "+1" in files and "\u22121" in files
    assert SUMMARY in (page.text_content("#events") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "job-page.png"), full_page=True)
    assert kind in listed
