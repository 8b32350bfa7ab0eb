"""A task through the API on the real engine: `fixwright serve` on a real port, the real CLI in
the sandbox image against the scripted model. Created over HTTP, streamed to its end, its diff
served; the task's own model key reaches the model and is found nowhere else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.model.fixtures import FakeModel, fake_api_key
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_api_live import create_key

pytestmark = pytest.mark.docker

OWNER, NAME = REPOSITORY.split("/")
OLD_LINE = 'return "Hello " + name'
NEW_LINE = 'return f"Hello, {name}!"'
SUMMARY = "greet() now puts a comma after Hello."


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The stream's messages: id, event and data (comments and heartbeats left out)."""
    messages = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields:
            messages.append({**fields, "data": json.loads(fields.get("data", "null"))})
    return messages


def test_a_task_runs_the_real_cli_with_its_own_model_key(
    agent_service_process: ServiceProcess, fake_model: FakeModel
) -> None:
    """The service holds a key the model refuses: the run succeeds only with the task's key,
    which the relay sends upstream for this task alone."""
    operator_key = fake_api_key()
    agent_service_process.env["FIXWRIGHT_ANTHROPIC_API_KEY"] = operator_key
    service = agent_service_process.start()
    fake_model.set_scenario(
        Scenario.fix_file("/workspace/hello/greet.py", OLD_LINE, NEW_LINE, summary=SUMMARY)
    )
    task_key = fake_model.api_key
    headers = {"Authorization": f"Bearer {create_key(service)}"}
    body = {
        "prompt": "greet() should put a comma after Hello and end with an exclamation mark.",
        "repository": {"owner": OWNER, "name": NAME},
        "claude": {"api_key": task_key, "max_turns": 5},
        "external_id": "live-task-1",
    }
    answers: list[str] = []
    with httpx.stream(
        "POST",
        service.url + "/v1/tasks",
        json=body,
        headers={**headers, "Prefer": "wait=180"},
        timeout=200,
    ) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        text = "".join(streamed.iter_text())
    answers.append(text)
    messages = sse_messages(text)
    assert messages[-1]["event"] == "completed", text[-2000:]
    assert [int(m["id"]) for m in messages] == list(range(1, len(messages) + 1))
    assert "tool_call" in {m["event"] for m in messages}

    found = httpx.get(service.url + "/v1/tasks?external_id=live-task-1", headers=headers)
    answers.append(found.text)
    [task] = found.json()["tasks"]
    assert task["status"] == "succeeded"
    assert task["result"]["files_changed"] == [
        {"path": "hello/greet.py", "additions": 1, "deletions": 1}
    ]
    # Resumed in the middle, the stream gives the rest exactly once, then ends.
    middle = messages[len(messages) // 2]["id"]
    resumed = httpx.get(
        service.url + f"/v1/tasks/{task['id']}/events",
        headers={**headers, "Last-Event-ID": middle},
        timeout=60,
    )
    answers.append(resumed.text)
    rest = [(m["id"], m["event"]) for m in messages if int(m["id"]) > int(middle)]
    assert [(m["id"], m["event"]) for m in sse_messages(resumed.text)] == rest
    diff = httpx.get(service.url + f"/v1/tasks/{task['id']}/diff", headers=headers)
    answers.append(diff.text)
    assert diff.headers["content-type"].startswith("text/x-diff")
    assert f"-    {OLD_LINE}" in diff.text and f"+    {NEW_LINE}" in diff.text
    for path in ("", "/logs"):
        answers.append(
            httpx.get(service.url + f"/v1/tasks/{task['id']}{path}", headers=headers).text
        )

    upstream = [request.headers.get("x-api-key") for request in fake_model.requests]
    assert upstream and set(upstream) == {task_key}
    assert task_key not in service.logs()
    for answer in answers:
        assert task_key not in answer
    for stored in Path(service.store_path).parent.iterdir():
        assert task_key.encode() not in stored.read_bytes(), stored.name
