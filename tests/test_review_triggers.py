"""Who and what may start a review: only a new `/review` on a pull request by someone with write access."""

from __future__ import annotations

from typing import Any

from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for


def test_only_a_new_review_command_on_a_pull_request_by_a_writer_starts_work(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """A bot, an edited comment and `/review` on a plain issue are ignored; a read-only user gets one short reply."""
    state = fake_github.state
    state.push_branch(REPOSITORY, "feature", {"hello/new.py": "x = 1\n"})
    number = state.open_pull_request(REPOSITORY, "feature", "Add x").number
    bot = comment_on(
        REPOSITORY, INSTALLATION_ID, number, "/review", pull=True, sender="dependabot[bot]"
    )
    bot["sender"]["type"] = "Bot"
    edited = comment_on(REPOSITORY, INSTALLATION_ID, number, "/review", pull=True)
    edited["action"] = "edited"
    edited["changes"] = {"body": {"from": "lgtm"}}
    on_issue = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/review")
    for payload in (bot, edited, on_issue):
        assert service.post("issue_comment", payload).json() == {"status": "ignored"}

    state.set_permission(REPOSITORY, "reader", "read")
    reader = comment_on(REPOSITORY, INSTALLATION_ID, number, "/review", pull=True, sender="reader")
    assert service.post("issue_comment", reader).status_code == 202
    [job] = wait_for(lambda: finished(service))

    assert job["state"] == "cancelled" and "read" in job["summary"], job
    [reply] = state.issue_comments(REPOSITORY, number)
    assert reply.user == state.bot_login
    assert "@reader" in reply.body and "reviews pull requests" in reply.body
    assert "**write** access" in reply.body
    assert state.reactions == [] and state.reviews == [] and state.check_runs == {}
    assert state.issue_comments(REPOSITORY, 1) == []


def finished(service: ServiceProcess) -> list[dict[str, Any]]:
    return [line for line in service.log_lines() if line["event"] == "job.finished"]
