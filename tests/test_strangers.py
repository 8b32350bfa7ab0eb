"""What someone without write access can do by commenting: nothing to a maintainer's job, and at
most one reply an hour."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from app.trigger_gate import REFUSAL_MARKER
from handlers.help.reply import HELP_MARKER
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import FIX, label_delivery
from tests.waiting import wait_for

STRANGER = "stranger"  # the fake GitHub gives anyone not named read access


def jobs(service: ServiceProcess) -> list[dict[str, Any]]:
    """Every job the service recorded, oldest first."""
    with sqlite3.connect(service.store_path) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT kind, requested_by, state, summary FROM jobs ORDER BY created_at"
        ).fetchall()
    return [dict(row) for row in rows]


def all_finished(service: ServiceProcess, count: int) -> list[dict[str, Any]]:
    """The jobs, once `count` of them exist and none is queued or running."""
    return wait_for(
        lambda: (
            len(found := jobs(service)) >= count
            and all(job["state"] not in ("queued", "running") for job in found)
            and found
        ),
        timeout=120,
    )


def queue_then_run(service_process: ServiceProcess, deliveries: list[tuple[str, dict]]) -> None:
    """Record the deliveries with no worker running, then start one: they all wait in the queue
    together, as when workers are busy."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    for event, payload in deliveries:
        assert service_process.post(event, payload).status_code == 202
    service_process.stop()
    service_process.start(FIXWRIGHT_WORKERS="1")


def comment(sender: str, body: str) -> tuple[str, dict]:
    return "issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, body, sender=sender)


def notices(fake_github: FakeGitHub, marker: str) -> list[str]:
    """The bodies of fixwright's comments on issue 1 that carry `marker`."""
    return [c.body for c in fake_github.state.issue_comments(REPOSITORY, 1) if marker in c.body]


@pytest.mark.docker
def test_a_strangers_fix_after_a_maintainers_label_leaves_the_maintainers_job_to_run(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """The stranger's newer `/fix` is refused; the maintainer's queued job still runs and opens its PR."""
    fake_model.set_scenario(FIX)
    queue_then_run(
        agent_service_process,
        [("issues", label_delivery(fake_github)), comment(STRANGER, "/fix delete everything")],
    )
    maintainers, strangers = all_finished(agent_service_process, 2)
    assert strangers["requested_by"] == STRANGER and strangers["state"] == "cancelled"
    assert strangers["summary"].startswith("refused: @stranger has read access")
    assert maintainers["requested_by"] == MAINTAINER
    assert maintainers["state"] == "succeeded"
    assert maintainers["summary"].startswith("pull request #")
    assert [pull.head for pull in fake_github.state.pulls.values()] == ["fixwright/issue-1"]
    [refusal] = notices(fake_github, REFUSAL_MARKER)
    assert "@stranger" in refusal


@pytest.mark.docker
def test_a_maintainers_newer_trigger_supersedes_the_queued_one(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """Label, then `/fix` by a maintainer: the newer runs, and the older is cancelled naming who."""
    fake_model.set_scenario(FIX)
    queue_then_run(
        agent_service_process,
        [("issues", label_delivery(fake_github)), comment(MAINTAINER, "/fix keep it short")],
    )
    older, newer = all_finished(agent_service_process, 2)
    assert older["state"] == "cancelled"
    assert older["summary"] == "superseded by a newer trigger from @octocat"
    assert newer["state"] == "succeeded"
    assert len(fake_github.state.pulls) == 1
    assert fake_model.api.scenario_requests  # one run of the CLI, for the newer trigger


def test_a_second_refusal_within_the_hour_posts_nothing_and_another_person_gets_their_own(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """A stranger's `/fix` twice gets one refusal (both jobs recorded as refused); someone else
    gets theirs."""
    service.post(*comment(STRANGER, "/fix"))
    all_finished(service, 1)
    service.post(*comment(STRANGER, "/fix please"))
    first, second = all_finished(service, 2)
    assert [first["state"], second["state"]] == ["cancelled", "cancelled"]
    assert second["summary"].startswith("refused: @stranger")
    assert len(notices(fake_github, REFUSAL_MARKER)) == 1
    skipped = [line for line in service.log_lines() if line["event"] == "notice.skipped"]
    assert [(line["notice"], line["to"]) for line in skipped] == [("refusal", STRANGER)]

    service.post(*comment("mallory", "/fix"))
    all_finished(service, 3)
    refusals = notices(fake_github, REFUSAL_MARKER)
    assert len(refusals) == 2 and "@mallory" in refusals[1]


def test_help_is_answered_once_an_hour_for_each_person_on_an_issue(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """`/help` twice by one person gets one answer; another person's `/help` gets another."""
    service.post(*comment(STRANGER, "/help"))
    all_finished(service, 1)
    service.post(*comment(STRANGER, "/help"))
    _, again = all_finished(service, 2)
    assert again["summary"] == "help not posted again: answered within the hour"
    assert len(notices(fake_github, HELP_MARKER)) == 1

    service.post(*comment("mallory", "/help"))
    all_finished(service, 3)
    assert len(notices(fake_github, HELP_MARKER)) == 2
