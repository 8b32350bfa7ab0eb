"""Every payload of the @octokit/webhooks-examples corpus is accepted when signed, refused when not."""

from __future__ import annotations

import uuid

import httpx

from app.events import WebhookEvent
from tests.corpus import all_examples
from tests.fakes.github.fixtures import WEBHOOK_SECRET
from tests.fakes.github.webhooks import delivery_headers, sign
from tests.fixtures.service import ServiceProcess


def test_the_corpus_is_the_full_set() -> None:
    """The set-up installed the whole corpus, not a stub (329 examples over 58 events)."""
    examples = all_examples()
    assert len(examples) >= 329
    assert len({name for name, _ in examples}) >= 58


def test_tolerant_reading_never_fails_on_any_example() -> None:
    """Every example yields its routing fields, including those githubkit's models reject."""
    rejected_by_models = 0
    for name, payload in all_examples():
        event = WebhookEvent(name=name, delivery_id="d", payload=payload)
        assert event.summary["event"] == name
        assert isinstance(event.sender_is_bot, bool)
        rejected_by_models += event.typed() is None
    assert rejected_by_models > 0  # the reason routing must not depend on the models


def test_every_example_signed_gets_2xx_and_corrupted_gets_401(
    service_process: ServiceProcess,
) -> None:
    """Posted to the running server, each signed example is accepted; each with a flipped signature bit is not."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    failures = []
    with httpx.Client(base_url=service_process.url, timeout=30) as client:
        for name, payload in all_examples():
            body = httpx.Request("POST", "/", json=payload).read()
            headers = delivery_headers(name, body, WEBHOOK_SECRET, str(uuid.uuid4()))
            accepted = client.post("/webhooks/github", content=body, headers=headers)
            if accepted.status_code not in (200, 202):
                failures.append((name, payload.get("action"), accepted.status_code, accepted.text))
            signature = sign(body, WEBHOOK_SECRET)
            flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
            headers = {
                **headers,
                "X-Hub-Signature-256": flipped,
                "X-GitHub-Delivery": str(uuid.uuid4()),
            }
            refused = client.post("/webhooks/github", content=body, headers=headers)
            if refused.status_code != 401:
                failures.append(
                    (name, payload.get("action"), refused.status_code, "corrupted accepted")
                )
    assert failures == []
