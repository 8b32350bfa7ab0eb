"""Every payload of the @octokit/webhooks-examples corpus is accepted when signed, refused when not."""

from __future__ import annotations

import uuid

import httpx

from app.events import WebhookEvent
from tests.corpus import all_examples
from tests.fakes.github.fixtures import WEBHOOK_SECRET
from tests.fakes.github.webhooks import delivery_headers, sign
from tests.fixtures.service import ServiceProcess

# What version 7.6.1 of the corpus (pinned in tests/setup.sh) holds.
CORPUS_EXAMPLES = 329
CORPUS_EVENTS = 58
# The corpus's deliveries that ask for something: cancelling an installation's or a removed
# repository's jobs. Its labels and comments are not fixwright's, so none queues a job but the
# findings check below.
CANCELLING = {
    ("installation", "deleted"),
    ("installation", "suspend"),
    ("installation_repositories", "removed"),
}


# A push to any pull request queues a check of the findings fixwright's reviews posted on it.
QUEUEING = {("pull_request", "synchronize")}


def expected_answer(name: str, action: str | None) -> tuple[int, str]:
    """The status code and `status` an example's event and action call for."""
    if name == "ping":
        return 200, "pong"
    if (name, action) in QUEUEING:
        return 202, "queued"
    if (name, action) in CANCELLING:
        return 202, "recorded"
    return 202, "ignored"


def test_the_corpus_is_the_full_set() -> None:
    """The set-up installed the whole corpus, not a stub: every example of every event."""
    examples = all_examples()
    assert len(examples) == CORPUS_EXAMPLES
    assert len({name for name, _ in examples}) == CORPUS_EVENTS


def test_tolerant_reading_never_fails_on_any_example() -> None:
    """Every example yields its routing fields as the payload holds them, including those
    githubkit's models reject."""
    rejected_by_models = 0
    for name, payload in all_examples():
        event = WebhookEvent(name=name, delivery_id="d", payload=payload)
        assert event.summary == {
            "delivery_id": "d",
            "event": name,
            "action": payload.get("action"),
            "installation_id": (payload.get("installation") or {}).get("id"),
            "repo": (payload.get("repository") or {}).get("full_name"),
        }, name
        sender = payload.get("sender") or {}
        is_bot = sender.get("type") == "Bot" or sender.get("login", "").endswith("[bot]")
        assert event.sender_is_bot is is_bot, name
        rejected_by_models += event.typed() is None
    assert rejected_by_models > 0  # the reason routing must not depend on the models


def test_every_example_signed_gets_its_answer_and_corrupted_gets_401(
    service_process: ServiceProcess,
) -> None:
    """Posted to the running server, each signed example gets the answer its event and action
    call for; each with a flipped signature bit is refused with 401."""
    service_process.start(FIXWRIGHT_WORKERS="0")
    failures = []
    answered = 0
    with httpx.Client(base_url=service_process.url, timeout=30) as client:
        for name, payload in all_examples():
            action = payload.get("action")
            body = httpx.Request("POST", "/", json=payload).read()
            headers = delivery_headers(name, body, WEBHOOK_SECRET, str(uuid.uuid4()))
            accepted = client.post("/webhooks/github", content=body, headers=headers)
            answer = (accepted.status_code, accepted.json().get("status"))
            if answer != expected_answer(name, action):
                failures.append((name, action, answer, accepted.text))
            signature = sign(body, WEBHOOK_SECRET)
            flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
            headers = {
                **headers,
                "X-Hub-Signature-256": flipped,
                "X-GitHub-Delivery": str(uuid.uuid4()),
            }
            refused = client.post("/webhooks/github", content=body, headers=headers)
            if (refused.status_code, refused.json().get("error", {}).get("code")) != (
                401,
                "invalid_signature",
            ):
                failures.append((name, action, refused.status_code, "corrupted accepted"))
            answered += 1
    assert failures == []
    assert answered == CORPUS_EXAMPLES
