"""Fuzzing the webhook intake over HTTP: never a 5xx, never a job from an unsigned or mis-signed request.

Besides random bytes and headers, half the requests are real payloads with one field removed,
nulled, retyped, made a huge integer or a deep nest, signed correctly: a signed body is input too.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus import MAINTAINER, comment_on, example, labeled_issue
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, WEBHOOK_SECRET
from tests.fakes.github.webhooks import sign
from tests.fixtures.service import ServiceProcess

EXAMPLES = 10_000
TRIGGER = json.dumps(labeled_issue(REPOSITORY, INSTALLATION_ID, 1, sender=MAINTAINER)).encode()
# (event, payload) that the routers act on, and some that they do not: the fields mutated below.
BASES: list[tuple[str, dict[str, Any]]] = [
    ("issues", labeled_issue(REPOSITORY, INSTALLATION_ID, 1)),
    ("issues", {**labeled_issue(REPOSITORY, INSTALLATION_ID, 2), "action": "unlabeled"}),
    ("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/fix now")),
    ("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 3, "/review", pull=True)),
    ("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, "/cancel")),
    ("installation", example("installation", "deleted")),
    ("installation_repositories", example("installation_repositories", "removed")),
    ("pull_request", example("pull_request", "opened")),
    ("ping", example("ping")),
]
# Stands in for raw JSON text that `json.dumps` cannot write (a 5,000-digit number, deep nests).
RAW = "RAW-JSON-VALUE"

header_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=40
)


def field_paths(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of nested objects, three levels deep."""
    if isinstance(data, dict) and len(prefix) < 3:
        for key, value in data.items():
            yield (*prefix, key)
            yield from field_paths(value, (*prefix, key))


PATHS = [sorted(set(field_paths(payload))) for _, payload in BASES]
REMOVE = object()
hostile_values = st.one_of(
    st.just(REMOVE),
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "yesterday", "2024-13-45T99:00:00Z", "/fix", "fixwright"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(lambda n: ("raw", "9" * n), st.integers(min_value=4000, max_value=6000)),
    st.builds(
        lambda n, nest: ("raw", nest[0] * n + nest[1] + nest[2] * n),
        st.integers(min_value=200, max_value=6000),
        st.sampled_from([("[", "", "]"), ('{"a":', "0", "}")]),
    ),
)


def mutated(base: int, path_index: int, value: Any) -> tuple[str, bytes]:
    """One of BASES with the field at one of its paths changed to `value`."""
    event, original = BASES[base]
    payload = copy.deepcopy(original)
    path = PATHS[base][path_index % len(PATHS[base])]
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    if value is REMOVE:
        parent.pop(path[-1], None)
        return event, json.dumps(payload).encode()
    raw = value[1] if isinstance(value, tuple) else None
    parent[path[-1]] = RAW if raw is not None else value
    body = json.dumps(payload).encode()
    return event, body.replace(json.dumps(RAW).encode(), raw.encode()) if raw else body


mutated_deliveries = st.builds(
    mutated,
    st.integers(min_value=0, max_value=len(BASES) - 1),
    st.integers(min_value=0, max_value=10_000),
    hostile_values,
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
# (event, body, signature, content type): half random, half a malformed body signed as GitHub would.
requests = st.one_of(
    st.tuples(events, bodies, signatures, content_types),
    st.builds(lambda sent: (*sent, "valid", "application/json"), mutated_deliveries),
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
    """10,000 generated requests, many of them signed but malformed: every answer is a JSON
    2xx/4xx, and only validly signed triggers queue jobs."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    client = httpx.Client(base_url=service_process.url, timeout=30)
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    queued_by_signed = 0

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(request=requests, delivery=deliveries)
    def post(request: tuple[str, bytes, str, str | None], delivery: str) -> None:
        nonlocal queued_by_signed
        event, body, signature, content_type = request
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
            codes[answer["error"]["code"]] += 1
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
    assert codes["invalid_payload"] > 0 and codes["invalid_json"] > 0  # signed, still refused
