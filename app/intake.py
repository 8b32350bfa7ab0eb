"""Webhook intake: verify, route, de-duplicate and record a delivery, then answer within milliseconds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.config import Settings
from app.errors import RequestRejected, error_response
from app.events import WebhookEvent
from app.log import get_logger
from app.metrics import Metrics
from app.routing import KNOWN_EVENTS, Router
from app.signature import is_valid_signature
from app.store import Delivery, Store

# GitHub caps payloads at 25 MB; anything larger is not from GitHub.
MAX_BODY_BYTES = 25 * 1024 * 1024
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


def check_headers(headers: Any) -> None:
    """Reject, naming every missing header, before reading the body."""
    missing = [name for name in REQUIRED_HEADERS if not headers.get(name)]
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
        raise RequestRejected(413, "payload_too_large", "body exceeds GitHub's 25 MB webhook limit")


async def read_capped_body(request: Request) -> bytes:
    """The raw body, refused as soon as it passes 25 MB (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestRejected(
                413, "payload_too_large", "body exceeds GitHub's 25 MB webhook limit"
            )
        chunks.append(chunk)
    return b"".join(chunks)


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


async def receive(intake: Intake, request: Request) -> Response:
    """POST /webhooks/github."""
    started = time.perf_counter()
    name = request.headers.get("X-GitHub-Event", "")
    event_label = name if name in KNOWN_EVENTS else "unknown"
    log = get_logger(delivery_id=request.headers.get("X-GitHub-Delivery"), event=name or None)
    try:
        response, outcome = await _receive(intake, request, log)
    except RequestRejected as rejected:
        response, outcome = (
            error_response(rejected.status, rejected.code, rejected.message),
            rejected.code,
        )
        log.warning("webhook.rejected", status=rejected.status, reason=rejected.message)
    intake.metrics.deliveries.labels(event=event_label, outcome=outcome).inc()
    intake.metrics.intake_seconds.observe(time.perf_counter() - started)
    return response


async def _receive(intake: Intake, request: Request, log: Any) -> tuple[Response, str]:
    if intake.stopping():
        raise RequestRejected(
            503,
            "shutting_down",
            "fixwright is shutting down; this delivery is not recorded, and is asked for again "
            "once the service is back",
        )
    check_headers(request.headers)
    body = await read_capped_body(request)
    if not is_valid_signature(
        body, request.headers["X-Hub-Signature-256"], intake.settings.webhook_secrets
    ):
        raise RequestRejected(
            401,
            "invalid_signature",
            "X-Hub-Signature-256 does not match the body for any configured secret",
        )
    event = WebhookEvent(
        name=request.headers["X-GitHub-Event"],
        delivery_id=request.headers["X-GitHub-Delivery"],
        payload=parse_payload(body),
    )
    log = log.bind(**event.summary)
    if event.name == "ping":
        log.info("webhook.ping", zen=event.payload.get("zen"))
        return JSONResponse({"status": "pong"}), "ping"
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
    job_ids = await intake.store.record_delivery(delivery, jobs, cancels)
    if job_ids is None:
        log.info("webhook.duplicate")
        return JSONResponse({"status": "duplicate"}, status_code=202), "duplicate"
    if job_ids:
        intake.wake_workers()
    log.info("webhook.received", outcome=outcome, jobs=job_ids or None)
    body: dict[str, Any] = {"status": outcome}
    if job_ids:
        body["jobs"] = job_ids
    return JSONResponse(body, status_code=202), outcome
