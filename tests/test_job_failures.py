"""A failed job tells its GitHub thread why, in words, with the next step."""

from __future__ import annotations

from tests.corpus import MAINTAINER, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.github.silent import silent_github
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for


def test_a_job_that_fails_says_so_in_the_thread(
    service: ServiceProcess, fake_github: FakeGitHub
) -> None:
    """When GitHub refuses the job's first call, the issue gets a comment with the reason and a retry hint."""
    permission = f"/repos/{REPOSITORY}/collaborators/{MAINTAINER}/permission"
    fake_github.state.fail_next("GET", permission, status=403)
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


def test_a_github_that_never_answers_ends_the_job_instead_of_holding_it(
    service_process: ServiceProcess,
) -> None:
    """Each GitHub request gives up after FIXWRIGHT_GITHUB_TIMEOUT_SECONDS, so a hung GitHub
    fails the job (its retries spent) rather than holding it and its worker for good."""
    with silent_github() as url:
        service = service_process.start(
            FIXWRIGHT_GITHUB_API_URL=url, FIXWRIGHT_GITHUB_TIMEOUT_SECONDS="1"
        )
        service.post("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1))
        [finished] = wait_for(
            lambda: [line for line in service.log_lines() if line["event"] == "job.finished"], 90
        )
    assert finished["state"] == "failed"
    assert "Cannot reach GitHub" in finished["summary"], finished
    assert "ReadTimeout" in finished["summary"]
