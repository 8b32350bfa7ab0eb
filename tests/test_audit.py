"""The audit trail: each decision leaves one entry with its actor, `fixwright audit` prints them,
and retention removes only the old ones.

The store and the command run on real SQLite files; the jobs run in process, on the scripted
sandbox, against the fake GitHub.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from app.audit import Action, audit
from app.audit_query import parse_since
from app.cli import main
from app.quota import day_of
from app.retention import DAY_SECONDS, describe, sweep
from app.store import AuditEntry, AuditQuery, JobState
from app.store.sqlite import SQLiteStore
from tests import test_store
from tests.corpus import comment_on
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY
from tests.fixtures.inprocess import Engine, EngineFactory, ended, finished
from tests.test_cancel import lifecycle
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import BRANCH, label_delivery
from tests.test_store import Clock

# The store's own fixtures: a store on a fresh file, and the clock the test moves.
clock, store = test_store.clock, test_store.store
OTHER_MAINTAINER = "hubot-maintainer"
GITHUB_TOKEN = "ghs_" + "a" * 36


def entry(action: Action, actor: str, repository: str = REPOSITORY, detail: str = "") -> AuditEntry:
    return AuditEntry(action.value, actor, repository, INSTALLATION_ID, "job-1", detail)


async def trail(engine: Engine, action: Action) -> list[AuditEntry]:
    """The engine's entries of one action."""
    return [e for e in await engine.store.audit_entries(AuditQuery()) if e.action == action]


async def test_entries_are_appended_and_read_by_repository_actor_and_time(
    store: SQLiteStore, clock: Clock
) -> None:
    """Each filter narrows the trail; every entry keeps the time the store gave it, oldest first."""
    await store.record_audit(entry(Action.PUSH, "octocat"))
    clock.now += DAY_SECONDS
    middle = clock.now
    await store.record_audit(entry(Action.QUOTA_REFUSED, "hubot", "octo/other"))
    await store.record_audit(entry(Action.JOB_CANCELLED, "octocat", "octo/other"))

    everything = await store.audit_entries(AuditQuery())
    assert [(e.action, e.actor) for e in everything] == [
        ("push", "octocat"),
        ("quota.refused", "hubot"),
        ("job.cancelled", "octocat"),
    ]
    assert everything[0].at < middle < everything[1].at < everything[2].at
    by_repository = await store.audit_entries(AuditQuery(repository="octo/other"))
    assert [e.action for e in by_repository] == ["quota.refused", "job.cancelled"]
    by_actor = await store.audit_entries(AuditQuery(actor="octocat"))
    assert [e.action for e in by_actor] == ["push", "job.cancelled"]
    since = await store.audit_entries(AuditQuery(since=middle, actor="octocat"))
    assert [e.action for e in since] == ["job.cancelled"]
    newest = await store.audit_entries(AuditQuery(limit=1))
    assert [e.action for e in newest] == ["job.cancelled"]


async def test_an_entry_is_one_redacted_line(store: SQLiteStore) -> None:
    """A token in the detail is redacted, and control characters (a terminal's escapes) are gone."""
    await audit(
        store,
        Action.CONFIG_ERROR,
        actor="octo\x1b[31mcat",
        repository=REPOSITORY,
        detail=f"bad file\n\x1b]0;title\x07 {GITHUB_TOKEN} deploy key \u202egpj.exe",
        secrets=("deploy key",),
    )
    [recorded] = await store.audit_entries(AuditQuery())
    assert GITHUB_TOKEN not in recorded.detail and "deploy key" not in recorded.detail
    assert "[redacted]" in recorded.detail
    assert not any(ord(c) < 32 for c in recorded.detail + recorded.actor)
    assert "\u202e" not in recorded.detail


async def test_a_write_the_store_refuses_is_logged_and_never_raised(tmp_path: Path) -> None:
    """The decision stands when its entry cannot be written: the gap is an error in the log."""
    closed = SQLiteStore(tmp_path / "closed.db")
    await closed.close()
    with capture_logs() as logs:
        recorded = await audit(closed, Action.PUSH, actor=MAINTAINER, repository=REPOSITORY)

    assert recorded is False
    [line] = [line for line in logs if line["event"] == "audit.not_recorded"]
    assert (line["log_level"], line["action"], line["actor"]) == ("error", "push", MAINTAINER)


async def test_retention_removes_only_the_entries_older_than_the_age(
    store: SQLiteStore, clock: Clock, tmp_path: Path
) -> None:
    """A sweep deletes the month-old entry, keeps the day-old one, and says how many it removed."""
    await store.record_audit(entry(Action.PUSH, "old"))
    clock.now += 40 * DAY_SECONDS
    await store.record_audit(entry(Action.PUSH, "young"))

    report = await sweep(store, tmp_path / "workspaces", 30 * DAY_SECONDS, clock.now)

    assert report.counts()["audit"] == 1
    assert "  audit trail entries: 1" in describe(report, 30)
    assert [e.actor for e in await store.audit_entries(AuditQuery())] == ["young"]


# `fixwright audit`


def seeded_store(path: Path, entries: list[tuple[float, AuditEntry]]) -> None:
    """A store file holding `entries`, each written at its time."""

    async def write() -> None:
        moments = iter(at for at, _ in entries)
        opened = SQLiteStore(path, clock=lambda: next(moments))
        try:
            for _, made in entries:
                await opened.record_audit(made)
        finally:
            await opened.close()

    asyncio.run(write())


@pytest.fixture
def audit_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """`fixwright audit <args>` against a store of two entries: a push by octocat ten days ago
    and a quota refusal of hubot's an hour ago, on another repository."""
    now = datetime.now(UTC).timestamp()
    path = tmp_path / "fixwright.db"
    seeded_store(
        path,
        [
            (now - 10 * DAY_SECONDS, entry(Action.PUSH, "octocat", detail="pushed fixwright/1")),
            (now - 3600, entry(Action.QUOTA_REFUSED, "hubot", "octo/other", "quota \x1b[2J")),
        ],
    )
    monkeypatch.chdir(tmp_path)  # no .env of anyone else's
    monkeypatch.setenv("FIXWRIGHT_STORE_URL", f"sqlite:///{path}")

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["audit", *args])
        except SystemExit as exit_:  # argparse's own refusals
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_the_command_prints_a_table_in_utc(
    audit_command: Callable[..., tuple[int, str, str]],
) -> None:
    """A header, then one row per entry, oldest first, with no terminal escape from the data."""
    code, out, _ = audit_command()
    header, first, second = out.splitlines()
    assert code == 0
    assert header.split() == ["time", "(UTC)", "action", "actor", "repository", "subject", "detail"]
    assert first.split()[2:] == ["push", "octocat", REPOSITORY, "job-1", "pushed", "fixwright/1"]
    assert second.split()[2:6] == ["quota.refused", "hubot", "octo/other", "job-1"]
    assert "\x1b" not in out


def test_the_command_filters_and_prints_json_lines(
    audit_command: Callable[..., tuple[int, str, str]],
) -> None:
    """--repo, --actor and --since narrow the trail; --json prints one object a line."""
    _, out, _ = audit_command("--since", "7d", "--json")
    [line] = out.splitlines()
    record = json.loads(line)
    assert (record["action"], record["actor"], record["repository"]) == (
        "quota.refused",
        "hubot",
        "octo/other",
    )
    assert record["at"].endswith("+00:00") and "\x1b" not in line
    assert "octocat" in audit_command("--actor", "octocat")[1]
    assert "hubot" not in audit_command("--actor", "octocat")[1]
    assert "octocat" not in audit_command("--repo", "octo/other")[1]
    assert audit_command("--actor", "nobody")[1] == "no audit entries match\n"
    assert audit_command("--actor", "nobody", "--json")[1] == ""


@pytest.mark.parametrize("since", ["yesterday", "7x", "2026-13-01", "99999999d", ""])
def test_a_bad_since_is_refused_with_exit_code_2(
    since: str, audit_command: Callable[..., tuple[int, str, str]]
) -> None:
    """The error says what is accepted; nothing is printed on stdout."""
    code, out, err = audit_command("--since", since)
    assert (code, out) == (2, "")
    assert "7d" in err and "2026-12-01" in err


def test_a_bad_repository_or_limit_is_refused_with_exit_code_2(
    audit_command: Callable[..., tuple[int, str, str]],
) -> None:
    """`--repo` must be owner/name (nothing else reaches the query); `--limit` is from 1 up."""
    code, out, err = audit_command("--repo", "octo-org")
    assert (code, out) == (2, "") and "owner/name" in err
    assert audit_command("--limit", "0")[0] == 2
    assert audit_command("--limit", "-1")[0] == 2


def test_since_reads_an_age_a_date_and_an_iso_time() -> None:
    """Ages count back from now; a date is midnight UTC; an ISO time keeps its offset."""
    now = 1_800_000_000.0
    assert parse_since("7d", now) == now - 7 * DAY_SECONDS
    assert parse_since("12h", now) == now - 12 * 3600
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert (
        parse_since("2026-12-01T09:30:00Z", now)
        == datetime(2026, 12, 1, 9, 30, tzinfo=UTC).timestamp()
    )
    assert parse_since("2026-12-01T10:30:00+01:00", now) == parse_since("2026-12-01T09:30:00", now)


# Each decision of a job, in process


async def test_a_quota_refusal_is_recorded_for_the_requester(make_engine: EngineFactory) -> None:
    """The daily tokens are spent: the refused job's entry names the person who labelled."""
    engine = await make_engine(quota_tokens_per_day=1)
    await engine.store.add_usage(INSTALLATION_ID, day_of(datetime.now(UTC)), 5, 0.0)
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.CANCELLED
    )

    [refused] = await trail(engine, Action.QUOTA_REFUSED)
    assert (refused.actor, refused.subject, refused.installation_id) == (
        MAINTAINER,
        job.id,
        INSTALLATION_ID,
    )
    assert refused.detail.startswith(f"{REPOSITORY}#1: ") and "tokens_per_day" in refused.detail


async def test_a_cancel_is_recorded_for_who_cancelled(make_engine: EngineFactory) -> None:
    """Another maintainer's `/cancel` stops octocat's fix: the entry is theirs, about the fix job."""
    engine = await make_engine(job_lease_seconds=3)
    engine.github.state.set_permission(REPOSITORY, OTHER_MAINTAINER, "write")
    never = asyncio.Event()
    engine.script(the_fix(engine, hold=never))
    [fix_id] = (await engine.deliver("issues", label_delivery(engine.github))).body["jobs"]
    fix = await engine.start_next()

    cancel = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/cancel", sender=OTHER_MAINTAINER)
    finished(await engine.run_delivery("issue_comment", cancel), JobState.SUCCEEDED)
    finished(await ended(fix), JobState.CANCELLED)

    [cancelled] = await trail(engine, Action.JOB_CANCELLED)
    assert (cancelled.actor, cancelled.subject) == (OTHER_MAINTAINER, fix_id)
    assert cancelled.detail == (
        f"{REPOSITORY}#1: fix job cancelled by @{OTHER_MAINTAINER} (/cancel)"
    )


async def test_cancellations_at_intake_are_recorded_with_the_delivery(engine: Engine) -> None:
    """Uninstalling the App cancels the queued job and records it, naming who uninstalled."""
    [queued] = (await engine.deliver("issues", label_delivery(engine.github))).body["jobs"]
    uninstall = lifecycle("installation", "deleted")
    await engine.deliver("installation", uninstall)

    [cancelled] = await trail(engine, Action.JOB_CANCELLED)
    assert (cancelled.actor, cancelled.subject, cancelled.repository) == (
        uninstall["sender"]["login"],
        queued,
        REPOSITORY,
    )
    assert cancelled.detail == f"{REPOSITORY}#1: cancelled: the App was uninstalled"


async def test_a_fix_records_its_push_with_branch_and_commit(engine: Engine) -> None:
    """The entry names the work branch and the commit GitHub now has at its head."""
    engine.script(the_fix(engine))
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED
    )

    head = gitrepo.branch_sha(engine.github.state.repositories[REPOSITORY].path, BRANCH)
    [pushed] = await trail(engine, Action.PUSH)
    assert (pushed.actor, pushed.subject) == (MAINTAINER, job.id)
    assert pushed.detail == f"{REPOSITORY}#1: pushed {BRANCH} at {head}"


async def test_an_invalid_repository_file_is_recorded_as_a_configuration_error(
    engine: Engine,
) -> None:
    """The job that met the broken `.github/fixwright.yml` leaves the problem in the trail."""
    engine.github.state.push_branch(
        REPOSITORY, "main", {".github/fixwright.yml": "max_turns: many\n"}, "Configure"
    )
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )

    [error] = await trail(engine, Action.CONFIG_ERROR)
    assert (error.actor, error.subject) == (MAINTAINER, job.id)
    assert "`max_turns` must be a whole number" in error.detail
    assert await trail(engine, Action.PUSH) == []
