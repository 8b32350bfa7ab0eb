"""A failed job tells its GitHub thread why, in words, with the next step."""

from __future__ import annotations

from tests.corpus import labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.test_webhook_intake import wait_for


def test_a_job_that_fails_says_so_in_the_thread(service: ServiceProcess, fake_github: FakeGitHub) -> None:
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
