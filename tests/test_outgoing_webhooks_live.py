"""Outgoing webhooks on the real engine: `fixwright serve` on a real port runs a task created over
HTTP with the real CLI in the sandbox image, and its webhook reaches a receiver this test runs,
signed, and once more after the receiver's first answer is a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.model.fixtures import FakeModel
from tests.fakes.model.scenario import Scenario
from tests.fakes.webhook_receiver import WebhookReceiver, receiving
from tests.fixtures.service import ServiceProcess
from tests.test_api_live import create_key
from tests.waiting import wait_for

pytestmark = pytest.mark.docker

OWNER, NAME = REPOSITORY.split("/")
SECRET = "live-webhook-secret-5f1d2c3b4a"
OLD_LINE = 'return "Hello " + name'
NEW_LINE = 'return f"Hello, {name}!"'


def test_a_task_s_webhook_arrives_signed_and_is_retried_after_a_500(
    agent_service_process: ServiceProcess, fake_model: FakeModel
) -> None:
    fake_model.set_scenario(
        Scenario.fix_file("/workspace/hello/greet.py", OLD_LINE, NEW_LINE, summary="Comma added.")
    )
    receiver = WebhookReceiver(statuses=[500])
    with receiving(receiver) as url:
        # The receiver is on this machine: the operator allows private addresses and http.
        agent_service_process.env.update(
            {
                "FIXWRIGHT_WEBHOOK_ALLOW_PRIVATE": "true",
                "FIXWRIGHT_WEBHOOK_ALLOW_HTTP": "true",
                "FIXWRIGHT_WEBHOOK_BACKOFF_SECONDS": "0.2",
            }
        )
        service = agent_service_process.start()
        headers = {"Authorization": f"Bearer {create_key(service)}"}
        created = httpx.post(
            service.url + "/v1/tasks",
            json={
                "prompt": "greet() should put a comma after Hello.",
                "repository": {"owner": OWNER, "name": NAME},
                "claude": {"max_turns": 5},
                "webhook": {"url": f"{url}/fixwright?source=live", "secret": SECRET},
            },
            headers=headers,
        )
        assert created.status_code == 202, created.text
        task_id = created.json()["id"]
        wait_for(lambda: len(receiver.received) >= 2, timeout=240)

    first, second = receiver.received
    assert first.signed_with(SECRET) and second.signed_with(SECRET)
    assert first.headers["x-fixwright-delivery"] == second.headers["x-fixwright-delivery"]
    assert second.headers["x-fixwright-event"] == "task.completed"
    body = second.json()
    assert body["task"]["id"] == task_id and body["task"]["status"] == "succeeded"
    assert body["task"]["result"]["files_changed"] == [
        {"path": "hello/greet.py", "additions": 1, "deletions": 1}
    ]

    listed = httpx.get(service.url + f"/v1/tasks/{task_id}/webhook-deliveries", headers=headers)
    [delivery] = listed.json()["deliveries"]
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["id"] == first.headers["x-fixwright-delivery"]
    assert SECRET not in listed.text
    assert SECRET not in service.logs()
