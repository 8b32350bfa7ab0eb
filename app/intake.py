"""Webhook intake: verify, route, de-duplicate and record a delivery, then answer within milliseconds.

The rules, free of HTTP framework: app/webhook_endpoint.py carries them over ASGI.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from structlog.typing import FilteringBoundLogger

from app.config import Settings
from app.errors import RequestRejected
from app.events import WebhookEvent, described, parse_timestamp, payload_problem, trigger_time_text
from app.log import get_logger
from app.metrics import Metrics
from app.reconcile import GITHUB_WINDOW
from app.routing import Registry
from app.signature import is_valid_signature
from app.store import CancelScope, Delivery, NewJob, Store, StoreUnavailable

# GitHub caps payloads at 25 MB; anything larger is not from GitHub.
MAX_BODY_BYTES = 25 * 1024 * 1024
TOO_LARGE = "body exceeds GitHub's 25 MB webhook limit"
REQUIRED_HEADERS = ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256")
# GitHub redelivers deliveries of the past three days, and no older: a trigger older than that
# (with room for clocks that disagree) is a replay of an old delivery, not someone asking now.
CLOCK_SKEW_SECONDS = 600.0
STALE_AFTER_SECONDS = GITHUB_WINDOW.total_seconds() + CLOCK_SKEW_SECONDS
STALE_REASON = (
    "the trigger is older than GitHub's 3-day redelivery window: a replayed delivery, not a new "
    "request; nothing is queued"
)


@dataclass(frozen=True)
class Intake:
    """What the webhook route needs; built once at start."""

    settings: Settings
    store: Store
    registry: Registry
    metrics: Metrics
    wake_workers: Callable[[], None]
    # True once shutdown began: deliveries are refused with 503, so GitHub records a failure
    # that the reconciler recovers, instead of a 202 for work nobody will do.
    stopping: Callable[[], bool] = lambda: False
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Plan:
    """What a delivery asks for, decided from its payload alone."""

    jobs: list[NewJob]
    cancels: list[CancelScope]
    outcome: str
    trigger_age_seconds: float | None = None


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
    surrogates, nesting past 1,024 levels, other encodings) goes to `json`, so error messages
    stay those of the standard library, and what `json` reads is accepted only if the store
    can write it back.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = standard_json(body)
    if not isinstance(payload, dict):
        raise RequestRejected(400, "invalid_json", "body must be a JSON object")
    return payload


def standard_json(body: bytes) -> Any:
    """What the standard library reads of what orjson refused; each refusal a 400 saying why."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestRejected(400, "invalid_json", f"body is not valid JSON: {error}") from None
    except ValueError:  # Python's own cap on the digits of an integer it reads
        raise RequestRejected(
            400,
            "invalid_json",
            f"body holds an integer of more than {sys.get_int_max_str_digits()} digits",
        ) from None
    except RecursionError:
        raise RequestRejected(
            400, "invalid_json", "body nests arrays or objects too deeply to be read"
        ) from None
    check_storable(payload, "body")
    return payload


def check_storable(value: Any, what: str) -> None:
    """Refuse what the store could not write (it would fail there, after the answer was chosen).

    orjson writes less than `json` does, and all of that the store's `json` writes too.
    """
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as error:
        raise RequestRejected(
            400,
            "invalid_payload",
            f"{what} cannot be stored ({error}): integers must fit in 64 bits, text must be "
            "valid Unicode, and arrays and objects may nest at most 254 levels deep",
        ) from None


def trigger_age(event: WebhookEvent, now: float) -> float | None:
    """Seconds since the trigger happened by GitHub's clock; None when the payload does not say."""
    text = trigger_time_text(event.payload)
    if not text:
        return None
    moment = parse_timestamp(text)
    if moment is None:
        raise RequestRejected(
            400,
            "invalid_payload",
            "the trigger's time (comment.created_at, review.submitted_at or issue.updated_at) must "
            f"be an ISO 8601 timestamp such as 2024-05-01T12:00:00Z, got {described(text)}",
        )
    return now - moment.timestamp()


def plan_delivery(intake: Intake, event: WebhookEvent) -> Plan:
    """The jobs and cancellations a delivery asks for; none when its trigger is stale."""
    jobs = intake.registry.plan(event, intake.settings)
    cancels = intake.registry.cancel_scopes(event, intake.settings)
    if not jobs:
        return Plan([], cancels, "recorded" if cancels else "ignored")
    for job in jobs:
        check_storable(job.payload, "the payload")
    age = trigger_age(event, intake.clock())
    if age is not None and age > STALE_AFTER_SECONDS:
        return Plan([], [], "stale", age)
    return Plan(jobs, cancels, "queued")


def verified_event(settings: Settings, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
    """The delivery, once its signature holds and the fields the service reads are usable."""
    if not is_valid_signature(body, headers["x-hub-signature-256"], settings.webhook_secrets):
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
    problem = payload_problem(event.payload)
    if problem is not None:
        raise RequestRejected(400, "invalid_payload", problem)
    return event


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
    event = verified_event(intake.settings, headers, body)
    log = get_logger(**event.summary)
    if event.name == "ping":
        zen = event.payload.get("zen")
        log.info("webhook.ping", zen=zen if isinstance(zen, str) else None)
        return Answer(200, {"status": "pong"}, "ping")
    return await record(intake, event, plan_delivery(intake, event), body, log)


async def record(
    intake: Intake, event: WebhookEvent, plan: Plan, body: bytes, log: FilteringBoundLogger
) -> Answer:
    """Write the delivery, its jobs and cancellations in one transaction, then answer."""
    delivery = Delivery(
        id=event.delivery_id,
        event=event.name,
        action=event.action,
        installation_id=event.installation_id,
        repository=event.repository,
        outcome=plan.outcome,
        # Only a body that asks for something is remembered: a replay of one that asked for
        # nothing does nothing either, and hashing every body would cost each delivery.
        body_sha256=hashlib.sha256(body).digest() if plan.jobs or plan.cancels else None,
    )
    try:
        job_ids = await intake.store.record_delivery(delivery, plan.jobs, plan.cancels)
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
    if plan.outcome == "stale":
        age_hours = round((plan.trigger_age_seconds or 0) / 3600, 1)
        log.info("webhook.stale", trigger_age_hours=age_hours, reason=STALE_REASON)
    else:
        log.info("webhook.received", outcome=plan.outcome, jobs=job_ids or None)
    answer: dict[str, Any] = {"status": plan.outcome}
    if job_ids:
        answer["jobs"] = job_ids
    return Answer(202, answer, plan.outcome)
