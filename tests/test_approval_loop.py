"""Approval end to end, on the real service and sandbox: a triage user's label waits, a
maintainer's `/approve` or a token completed over HTTP starts it, and a request survives kill -9."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import Any

import httpx
import pytest

from app.trigger_gate import APPROVAL_MARKER
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY, FakeGitHub
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import BRANCH, FIX, JOB_TIMEOUT, label_delivery
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

TRIAGER = "triager"
POLICY = {"FIXWRIGHT_APPROVAL_REQUIRED_BELOW": "write"}


def jobs(service: ServiceProcess) -> list[tuple[str, str, str]]:
    """(id, kind, state) of every job, oldest first, as the store on disk has them."""
    with sqlite3.connect(service.store_path) as db:
        return list(db.execute("SELECT id, kind, state FROM jobs ORDER BY created_at"))


def fix_state(service: ServiceProcess) -> str:
    return next((state for _, kind, state in jobs(service) if kind == "fix"), "")


def fixwright(service: ServiceProcess, *args: str) -> str:
    """`fixwright <args>` on the service's store; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=service.log_path.parent,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def audit_actors(service: ServiceProcess) -> list[tuple[str, str]]:
    """(action, actor) of every entry `fixwright audit --json` prints."""
    lines = fixwright(service, "audit", "--json").splitlines()
    return [(entry["action"], entry["actor"]) for entry in map(json.loads, lines)]


def waiting_comments(fake_github: FakeGitHub) -> list[str]:
    return [
        c.body for c in fake_github.state.issue_comments(REPOSITORY, 1) if APPROVAL_MARKER in c.body
    ]


def test_a_triage_label_waits_and_a_maintainers_approve_opens_the_pull_request(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    fake_model.set_scenario(FIX)
    fake_github.state.set_permission(REPOSITORY, TRIAGER, "triage")
    service = agent_service_process.start(**POLICY)

    assert service.post("issues", label_delivery(fake_github, sender=TRIAGER)).status_code == 202
    wait_for(lambda: fix_state(service) == "awaiting_approval", JOB_TIMEOUT)
    assert len(waiting_comments(fake_github)) == 1
    assert fake_model.api.scenario_requests == []

    approve = comment_on(REPOSITORY, INSTALLATION_ID, 1, "/approve", sender=MAINTAINER)
    assert service.post("issue_comment", approve).status_code == 202
    wait_for(lambda: fix_state(service) == "succeeded", JOB_TIMEOUT)

    [pull] = fake_github.state.pulls.values()
    assert pull.head == BRANCH
    assert fake_model.api.scenario_requests
    actors = audit_actors(service)
    assert ("approval.requested", TRIAGER) in actors
    assert ("approval.granted", MAINTAINER) in actors
    assert ("trigger.accepted", TRIAGER) in actors


def test_a_waiting_request_survives_kill_9_and_a_token_over_http_starts_it_once(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    fake_model.set_scenario(FIX)
    fake_github.state.set_permission(REPOSITORY, TRIAGER, "triage")
    service = agent_service_process.start(**POLICY)
    service.post("issues", label_delivery(fake_github, sender=TRIAGER))
    wait_for(lambda: fix_state(service) == "awaiting_approval", JOB_TIMEOUT)

    service.kill()
    service.start(**POLICY)  # start-up recovery and the reaper have run once it is healthy
    [(job_id, _, state)] = [job for job in jobs(service) if job[1] == "fix"]
    assert state == "awaiting_approval"
    assert job_id in fixwright(service, "approvals")

    printed = fixwright(service, "approvals", "token", job_id, "--expires", "10m")
    fields = dict(line.split(":", 1) for line in printed.splitlines()[:2])
    token_id, secret = fields["token id"].strip(), fields["secret"].strip()
    url = f"{service.url}/v1/approvals/{token_id}"
    bearer = {"Authorization": f"Bearer {secret}"}

    wrong = httpx.post(url, json={"decision": "approve"}, headers={"Authorization": "Bearer x"})
    first = httpx.post(url, json={"decision": "approve"}, headers=bearer)
    second = httpx.post(url, json={"decision": "deny"}, headers=bearer)

    assert wrong.status_code == 401
    assert (first.status_code, first.json()) == (200, {"job_id": job_id, "decision": "approved"})
    assert (second.status_code, second.json()["decision"]) == (409, "approved")
    wait_for(lambda: fix_state(service) == "succeeded", JOB_TIMEOUT)
    assert [pull.head for pull in fake_github.state.pulls.values()] == [BRANCH]
    assert ("approval.granted", f"token:{token_id}") in audit_actors(service)
    assert secret not in service.logs()
    assert all(secret not in c.body for c in fake_github.state.comments.values())
