"""A failed job tells its GitHub thread why, in words, with the next step."""

from __future__ import annotations

from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.test_webhook_intake import wait_for


def test_a_job_that_fails_says_so_in_the_thread(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """When GitHub refuses the job's first call, the issue gets a comment with the reason and a retry hint."""
    fake_github.state.fail_next("POST", f"/repos/{REPOSITORY}/issues/1/reactions", status=403)
    service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
    comment = wait_for(lambda: list(fake_github.state.comments.values()))[0]
    assert "could not finish this fix job" in comment.body
    assert "`/fix`" in comment.body
    assert comment.issue_number == 1
    finished = wait_for(
        lambda: [line for line in service.log_lines() if line["event"] == "job.finished"]
    )
    assert finished[0]["state"] == "failed"


def test_a_job_github_will_not_authorize_fails_with_the_operators_remedy_logged(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """A delivery for a repository the installation does not cover fails, and the log says what to change."""
    service.post("issues", labeled_issue("octo-org/elsewhere", INSTALLATION_ID, 4))
    [finished] = wait_for(
        lambda: [line for line in service.log_lines() if line["event"] == "job.finished"]
    )
    assert finished["state"] == "failed"
    assert "octo-org/elsewhere" in finished["summary"]
    [remedy] = [line for line in service.log_lines() if line["event"] == "job.github_auth_failed"]
    assert remedy["level"] == "error"
    assert fake_github.state.comments == {}
