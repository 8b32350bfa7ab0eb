"""Webhook intake: verify, route, de-duplicate and record a delivery, then answer within milliseconds.

The rules, free of HTTP framework: app/webhook_endpoint.py carries them over ASGI.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.config import Settings
from app.errors import RequestRejected
from app.events import WebhookEvent
from app.log import get_logger
from app.metrics import Metrics
from app.routing import Router
from app.signature import is_valid_signature
from app.store import Delivery, Store, StoreUnavailable

# GitHub caps payloads at 25 MB; anything larger is not from GitHub.
MAX_BODY_BYTES = 25 * 1024 * 1024
TOO_LARGE = "body exceeds GitHub's 25 MB webhook limit"
REQUIRED_HEADERS = ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256")


@dataclass(frozen=True)
class Intake:
    """What the webhook route needs; built once at start."""

    settings: Settings
    store: Store
    router: Router
    metrics: Metrics
    wake_workers: Callable[[], None]
    # True once shutdown began: deliveries are refused with 503, so GitHub records a failure
    # that the reconciler recovers, instead of a 202 for work nobody will do.
    stopping: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class Answer:
    """What the intake says to one request: status, JSON body, and the outcome it is counted as."""

    status: int
    body: dict[str, Any]
    outcome: str


def check_headers(headers: Mapping[str, str]) -> None:
    """Reject, naming every missing header, before reading the body (names in lower case)."""
    missing = [name for name in REQUIRED_HEADERS if not headers.get(name.lower())]
    if missing:
        raise RequestRejected(
            400, "missing_headers", f"missing required headers: {', '.join(missing)}"
        )
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise RequestRejected(
            415,
            "unsupported_media_type",
            f"content type must be application/json, got {content_type or 'none'} "
            "(set the webhook's content type to application/json)",
        )
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise RequestRejected(413, "payload_too_large", TOO_LARGE)


def parse_payload(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; orjson parses, the standard library judges what orjson refuses.

    orjson is strict RFC 8259 and several times faster; whatever it refuses (NaN, a BOM, lone
    surrogates, integers past 64 bits, other encodings) goes to `json`, so what is accepted and
    every error message stay those of the standard library.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = strict_json(body)
    if not isinstance(payload, dict):
        raise RequestRejected(400, "invalid_json", "body must be a JSON object")
    return payload


def strict_json(body: bytes) -> Any:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestRejected(400, "invalid_json", f"body is not valid JSON: {error}") from None
    return payload


async def accept(
    intake: Intake, headers: Mapping[str, str], read_body: Callable[[], Awaitable[bytes]]
) -> Answer:
    """Verify, parse, route and record one delivery; raises RequestRejected for what is refused.

    `headers` are keyed by lower-case name; `read_body` is called only once they pass.
    """
    if intake.stopping():
        raise RequestRejected(
            503,
            "shutting_down",
            "fixwright is shutting down; this delivery is not recorded, and is asked for again "
            "once the service is back",
        )
    check_headers(headers)
    body = await read_body()
    if not is_valid_signature(
        body, headers["x-hub-signature-256"], intake.settings.webhook_secrets
    ):
        raise RequestRejected(
            401,
            "invalid_signature",
            "X-Hub-Signature-256 does not match the body for any configured secret",
        )
    event = WebhookEvent(
        name=headers["x-github-event"],
        delivery_id=headers["x-github-delivery"],
        payload=parse_payload(body),
    )
    log = get_logger(**event.summary)
    if event.name == "ping":
        log.info("webhook.ping", zen=event.payload.get("zen"))
        return Answer(200, {"status": "pong"}, "ping")
    jobs = intake.router.plan(event, intake.settings)
    cancels = intake.router.cancel_scopes(event, intake.settings)
    outcome = "queued" if jobs else "recorded" if cancels else "ignored"
    delivery = Delivery(
        id=event.delivery_id,
        event=event.name,
        action=event.action,
        installation_id=event.installation_id,
        repository=event.repository,
        outcome=outcome,
    )
    try:
        job_ids = await intake.store.record_delivery(delivery, jobs, cancels)
    except StoreUnavailable as error:
        raise RequestRejected(
            503,
            "store_unavailable",
            f"{error}. This delivery is not recorded; GitHub shows it as failed, and the "
            "reconciler asks for it again (or redeliver it from the App's advanced settings)",
        ) from None
    if job_ids is None:
        log.info("webhook.duplicate")
        return Answer(202, {"status": "duplicate"}, "duplicate")
    if job_ids:
        intake.wake_workers()
    log.info("webhook.received", outcome=outcome, jobs=job_ids or None)
    answer: dict[str, Any] = {"status": outcome}
    if job_ids:
        answer["jobs"] = job_ids
    return Answer(202, answer, outcome)
