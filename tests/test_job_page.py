"""The live job page in process: its signed links, what it shows, what it refuses, and the link
in the progress comment. (`tests/test_job_page_browser.py` opens it in a real browser.)"""

from __future__ import annotations

import re
import stat
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.api.context import ApiState
from app.config import Settings
from app.event_hub import EventHub
from app.job_page import job_page_routes, render_page
from app.page_tokens import (
    KEY_FILE,
    PageKeyError,
    TokenCheck,
    check_token,
    load_or_create_key,
    page_link,
    page_token,
)
from app.store import Delivery, JobState, NewJob
from app.store.sqlite import SQLiteStore
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import label_delivery, progress_comments

NOW = 1_800_000_000.0


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    return replace(Settings(), state_dir=str(tmp_path / "state"), **changes)  # type: ignore[arg-type]


def test_a_token_opens_its_own_job_until_it_expires(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    token = page_token(settings, "job-1", NOW)
    assert check_token(settings, "job-1", token, NOW + 60) is TokenCheck.VALID
    assert check_token(settings, "job-2", token, NOW + 60) is TokenCheck.FORGED
    later = NOW + settings.page_link_seconds + 1
    assert check_token(settings, "job-1", token, later) is TokenCheck.EXPIRED
    assert check_token(settings, "job-1", None, NOW) is TokenCheck.MISSING


def test_forged_and_tampered_tokens_are_refused(tmp_path: Path) -> None:
    """Another key's signature, a later expiry on a real signature, and malformed tokens."""
    settings = settings_for(tmp_path)
    token = page_token(settings, "job-1", NOW)
    expiry, _, mac = token.partition(".")
    other = page_token(replace(settings, page_signing_key="another key, not ours"), "job-1", NOW)
    tampered = [
        other,
        f"{int(expiry) + 86_400}.{mac}",
        f"{expiry}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"{expiry}.{mac}=",
        f"-{expiry}.{mac}",
        f"{expiry}{mac}",
        "9" * 40 + "." + mac,
        f"{expiry}.{'é' * 43}",
    ]
    for forged in tampered:
        assert check_token(settings, "job-1", forged, NOW) is TokenCheck.FORGED, forged
    expired_forgery = f"{int(NOW) - 10}.{mac}"
    assert check_token(settings, "job-1", expired_forgery, NOW) is TokenCheck.FORGED


def test_the_generated_key_is_kept_in_a_file_only_the_service_may_read(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    path.chmod(0o644)
    with pytest.raises(PageKeyError, match="0600"):
        load_or_create_key(path)
    linked = tmp_path / "linked.key"
    linked.symlink_to(path)
    with pytest.raises(PageKeyError):
        load_or_create_key(linked)


def test_a_link_is_absolute_with_the_public_url_and_none_without(tmp_path: Path) -> None:
    assert page_link(settings_for(tmp_path), "job-1", NOW) == ""
    settings = settings_for(tmp_path, public_url="https://fixwright.example.com/")
    link = page_link(settings, "job/1", NOW)
    assert link.startswith("https://fixwright.example.com/jobs/job%2F1?t=")
    token = link.partition("?t=")[2]
    assert check_token(settings, "job/1", token, NOW) is TokenCheck.VALID


@dataclass
class Page:
    client: httpx.AsyncClient
    store: SQLiteStore
    settings: Settings


@pytest.fixture
async def page(engine: Engine) -> AsyncIterator[Page]:
    app = Starlette(routes=job_page_routes())
    settings = replace(engine.settings, sse_heartbeat_seconds=0.05)
    hub = EventHub()
    engine.store.watch_events(hub.notify)
    app.state.api = ApiState(
        settings, engine.store, engine.metrics, engine.registry, engine.pool, hub
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fixwright") as client:
        yield Page(client, engine.store, settings)


async def a_job(store: SQLiteStore) -> str:
    job = NewJob("fix", "octo/repo", "octo/repo#1", 1, "octocat", {}, number=1)
    [job_id] = await store.record_delivery(Delivery(uuid.uuid4().hex, "issues"), [job]) or []
    return job_id


async def test_the_page_shows_the_log_escaped_under_a_strict_policy(page: Page) -> None:
    """Claude's words with markup in them are text; the only script is the page's own, tagged
    with the nonce the policy names; no referrer leaves the page."""
    job_id = await a_job(page.store)
    await page.store.append_event(job_id, "text", {"text": "<script>alert('x')</script> & co"})
    await page.store.append_event(job_id, "tool_call", {"tool": "Bash", "input": {"command": "ls"}})
    usage = {"turns": 3, "input_tokens": 1000, "output_tokens": 234, "cost_usd": 0.0123}
    await page.store.append_event(job_id, "usage", usage)
    token = page_token(page.settings, job_id, time.time())
    answer = await page.client.get(f"/jobs/{job_id}", params={"t": token})
    assert answer.status_code == 200
    body = answer.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in body
    assert "<script>alert" not in body
    assert "1,234" in body and "$0.0123" in body and ">3<" in body
    policy = answer.headers["content-security-policy"]
    [nonce] = re.findall(r"script-src 'nonce-([^']+)'", policy)
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert re.findall(r"<script[^>]*>", body) == [f'<script nonce="{nonce}">']
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert f"/jobs/{job_id}/events?t={token}" in body


async def test_bad_links_get_401_403_and_410_and_open_no_other_job(page: Page) -> None:
    job_id, other_id = await a_job(page.store), await a_job(page.store)
    await page.store.append_event(other_id, "text", {"text": "the other job's words"})
    token = page_token(page.settings, job_id, time.time())
    old = page_token(page.settings, job_id, time.time() - page.settings.page_link_seconds - 5)
    cases = {
        f"/jobs/{job_id}": 401,
        f"/jobs/{job_id}?t=123.abc": 403,
        f"/jobs/{other_id}?t={token}": 403,
        f"/jobs/{other_id}/events?t={token}": 403,
        f"/jobs/{job_id}?t={old}": 410,
        f"/jobs/{job_id}/events?t={old}": 410,
    }
    for path, status in cases.items():
        answer = await page.client.get(path)
        assert answer.status_code == status, path
        assert "the other job" not in answer.text
        assert answer.headers["referrer-policy"] == "no-referrer"


async def test_the_pages_stream_is_the_jobs_events_from_where_the_page_left_off(
    page: Page,
) -> None:
    job_id = await a_job(page.store)
    for words in ("one", "two"):
        await page.store.append_event(job_id, "text", {"text": words})
    await page.store.append_event(job_id, "completed", {"summary": "done"})
    token = page_token(page.settings, job_id, time.time())
    answer = await page.client.get(
        f"/jobs/{job_id}/events", params={"t": token, "last_event_id": "1"}
    )
    assert answer.status_code == 200
    assert re.findall(r"^id: (\d+)$", answer.text, re.MULTILINE) == ["2", "3"]
    finished_page = await page.client.get(f"/jobs/{job_id}", params={"t": token})
    assert "<script" not in finished_page.text  # nothing more will come


async def test_the_progress_comment_links_the_live_page_when_the_public_url_is_set(
    make_engine: EngineFactory,
) -> None:
    engine = await make_engine(public_url="https://fixwright.example.com")
    engine.script(the_fix(engine))
    ran = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED
    )
    [comment] = progress_comments(engine.github)
    [link] = re.findall(r"\[live log\]\((\S+)\)", comment.body)
    assert link.startswith(f"https://fixwright.example.com/jobs/{ran.id}?t=")
    token = link.partition("?t=")[2]
    assert check_token(engine.settings, ran.id, token, time.time()) is TokenCheck.VALID


async def test_a_tasks_diff_is_shown_at_the_end_as_text(page: Page) -> None:
    """The diff a task left is escaped line by line, its additions and deletions marked."""
    job_id = await a_job(page.store)
    job = await page.store.get_job(job_id)
    assert job is not None
    diff = "--- a/x.html\n+++ b/x.html\n@@ -1 +1 @@\n-<p>old</p>\n+<script>alert(1)</script>\n"
    shown = render_page(job, [], "token", diff, "nonce")
    assert '<span class="add">+&lt;script&gt;alert(1)&lt;/script&gt;</span>' in shown
    assert '<span class="del">-&lt;p&gt;old&lt;/p&gt;</span>' in shown
    assert "<script>alert" not in shown
    assert '<span class="del">--- a/x.html' not in shown  # file headers are not changes
