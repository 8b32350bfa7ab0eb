"""Fuzzing the webhook intake over HTTP: never a 5xx, never a job from an unsigned or mis-signed request."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus import MAINTAINER, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, WEBHOOK_SECRET
from tests.fakes.github.webhooks import sign
from tests.fixtures.service import ServiceProcess

EXAMPLES = 10_000
TRIGGER = json.dumps(labeled_issue(REPOSITORY, INSTALLATION_ID, 1, sender=MAINTAINER)).encode()

header_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=40
)
bodies = st.one_of(
    st.just(TRIGGER),
    st.binary(max_size=300),
    st.builds(
        lambda data: json.dumps(data).encode(),
        st.dictionaries(st.text(max_size=10), st.integers(), max_size=5),
    ),
    st.builds(lambda cut: TRIGGER[:cut], st.integers(min_value=0, max_value=len(TRIGGER))),
)
signatures = st.sampled_from(["valid", "other-secret", "garbage", "missing", "sha1", "truncated"])
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        None,
    ]
)
events = st.one_of(
    st.sampled_from(["issues", "issue_comment", "ping", "push", "star"]), header_text
)
deliveries = st.one_of(st.builds(lambda: str(uuid.uuid4())), header_text)


def signature_for(kind: str, body: bytes) -> str | None:
    valid = sign(body, WEBHOOK_SECRET)
    return {
        "valid": valid,
        "other-secret": sign(body, "not-the-secret"),
        "garbage": "sha256=" + "g" * 64,
        "missing": None,
        "sha1": "sha1=" + valid[7:47],
        "truncated": valid[:-2],
    }[kind]


def test_random_requests_never_get_a_5xx_or_create_a_job_unless_signed(
    service_process: ServiceProcess,
) -> None:
    """10,000 generated requests: every answer is a JSON 2xx/4xx, and only validly signed triggers queue jobs."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    client = httpx.Client(base_url=service_process.url, timeout=30)
    statuses: Counter[int] = Counter()
    queued_by_signed = 0

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        body=bodies,
        signature=signatures,
        content_type=content_types,
        event=events,
        delivery=deliveries,
    )
    def post(
        body: bytes, signature: str, content_type: str | None, event: str, delivery: str
    ) -> None:
        nonlocal queued_by_signed
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
        value = signature_for(signature, body)
        if value is not None:
            headers["X-Hub-Signature-256"] = value
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = client.post("/webhooks/github", content=body, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        answer = response.json()
        if response.status_code >= 400:
            assert set(answer["error"]) == {"code", "message"}
        if answer.get("status") == "queued":
            assert signature == "valid", (signature, headers)
            queued_by_signed += 1

    post()
    client.close()
    with sqlite3.connect(service_process.store_path) as db:
        (jobs,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
    assert jobs == queued_by_signed
    assert sum(statuses.values()) == EXAMPLES
    assert statuses[401] > 0 and statuses[202] > 0  # both sides of the check were exercised
