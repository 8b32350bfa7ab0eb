"""The API on `fixwright serve` over a real port: a key made by the CLI works over HTTP, and
schemathesis checks every operation of the live `/openapi.json` against the live server."""

from __future__ import annotations

import re

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.auth import SCOPES
from tests.fixtures.service import ServiceProcess
from tests.waiting import wait_for

# Each operation gets this many generated requests: the whole run stays well under a minute.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def create_key(service: ServiceProcess, *options: str) -> str:
    """`fixwright keys create` on the service's store, as an operator runs it; the key printed."""
    made = service.command("keys", "create", "--name", "live test", *options)
    assert made.returncode == 0, made.stderr
    key = re.search(r"^key: +(fw_\S+)$", made.stdout, re.MULTILINE)
    assert key is not None, made.stdout
    return key[1]


def test_a_key_made_by_the_cli_works_over_http_until_revoked(service: ServiceProcess) -> None:
    """The key printed once by `fixwright keys create` reads the audit trail over HTTP with its
    rate-limit headers and request id (also in the service's log line); revoked, it is 401."""
    key = create_key(service, "--scope", "audit:read")
    headers = {"Authorization": f"Bearer {key}", "X-Request-ID": "live-check-1"}
    answer = httpx.get(service.url + "/v1/audit", headers=headers)
    assert answer.status_code == 200, answer.text
    entries = answer.json()["entries"]
    assert [e["action"] for e in entries] == ["api_key.created"]
    assert answer.headers["x-request-id"] == "live-check-1"
    assert answer.headers["x-ratelimit-limit"] == "60"
    assert answer.headers["x-ratelimit-remaining"] == "59"
    assert int(answer.headers["x-ratelimit-reset"]) > 0
    # The request's line is written once its answer has gone.
    wait_for(
        lambda: any(
            line.get("event") == "api.request" and line.get("request_id") == "live-check-1"
            for line in service.log_lines()
        )
    )
    assert key not in service.logs()
    revoked = service.command("keys", "revoke", key.split("_")[1])
    assert revoked.returncode == 0, revoked.stderr
    refused = httpx.get(service.url + "/v1/audit", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert key.split("_", 2)[2] not in service.command("keys", "list").stdout


def test_every_operation_answers_as_the_live_document_says(
    service_process: ServiceProcess,
) -> None:
    """Schemathesis, with a key holding every scope (and limits it cannot reach), sends generated
    requests to each operation the live document describes: no 5xx, and every answer's status,
    content type and body are the ones documented. No worker runs, so created tasks only queue."""
    service = service_process.start(FIXWRIGHT_WORKERS="0")
    key = create_key(
        service,
        "--scope",
        ",".join(SCOPES),
        "--per-minute",
        "100000",
        "--per-hour",
        "1000000",
    )
    schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert "GET /v1/audit" in {operation.label for operation in operations}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=service.url,
                headers={"Authorization": f"Bearer {key}"},
                checks=CHECKS,
                timeout=20,
            )

        answers_as_documented()
