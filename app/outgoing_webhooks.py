"""Outgoing webhooks: when a task ends, its webhook URL is told, signed with the task's secret.

`deliver_task_webhook` queues one delivery in the store when a task ends; `WebhookSender`, a
loop the service's lifespan runs, sends what is due. Each attempt resolves the name and checks
every address (app/egress_guard.py), sends the JSON body to the checked address with
`X-Fixwright-Signature-256: sha256=<HMAC-SHA256 of the raw body with the task's secret>`, and
is recorded. A 2xx ends it; a redirect (never followed) or a 4xx other than 408 and 429 ends it
as failed; anything else is tried again after an exponential backoff with jitter, within
`FIXWRIGHT_WEBHOOK_MAX_ATTEMPTS` and `FIXWRIGHT_WEBHOOK_RETRY_FOR`. Deliveries live in the store,
so one queued before a restart is sent after it.

The secret is read from the task's row for each attempt and goes only into the signature: never
into a log, an attempt's record or an answer. Logs and records name only the URL's origin (a
receiver's URL often carries a credential of its own in its path).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import math
import random
import ssl
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import httpx

from app.api.task_views import task_view
from app.config import Settings
from app.egress_guard import Pinned, Resolver, Unresolved, parse_target, pin_target, system_resolve
from app.log import get_logger
from app.metrics import Metrics
from app.store.model import Job, JobState, Store
from app.store.tasks import Task
from app.store.webhook_deliveries import (
    DELIVERED,
    FAILED,
    PENDING,
    WebhookAttempt,
    WebhookDelivery,
)

EVENTS = {
    JobState.SUCCEEDED: "task.completed",
    JobState.FAILED: "task.failed",
    JobState.CANCELLED: "task.cancelled",
}
# fixwright_outgoing_webhook_attempts_total's `outcome`, by the state an attempt left.
METRIC_OUTCOMES = {DELIVERED: "delivered", PENDING: "retrying", FAILED: "failed"}
SIGNATURE_HEADER = "X-Fixwright-Signature-256"
EVENT_HEADER = "X-Fixwright-Event"
DELIVERY_HEADER = "X-Fixwright-Delivery"
# Deliveries one pass of the sender takes, sent at once.
BATCH = 8
# How often an idle sender looks for due deliveries.
POLL_SECONDS = 1.0
# How often the sender looks for tasks that ended without their delivery queued, and how far
# back (a task's run, queue included, is assumed shorter than a day).
CATCH_UP_SECONDS = 60.0
CATCH_UP_WINDOW_SECONDS = 86_400.0
# A claim outlives an attempt's timeout by this much, so a live sender never loses its claim.
CLAIM_MARGIN_SECONDS = 30.0
# No single wait between attempts is longer, however many attempts are allowed.
LONGEST_WAIT_SECONDS = 3600.0
# What is read of a receiver's answer, and what of it is kept.
RESPONSE_READ_BYTES = 2048
EXCERPT_CHARACTERS = 200
ERROR_CHARACTERS = 300
# Unicode categories dropped from a receiver's answer: controls, format characters (bidirectional
# overrides among them), surrogates, private use, unassigned, and line or paragraph separators.
DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class WebhookState(Protocol):
    """What queuing a webhook needs (the worker pool, the API's `ApiState` and the sender have it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...


@functools.cache
def user_agent() -> str:
    try:
        return f"fixwright/{version('fixwright')}"
    except PackageNotFoundError:
        return "fixwright/unknown"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def iso_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def webhook_body(
    delivery: WebhookDelivery, job: Job, task: Task, settings: Settings, sent_at: float
) -> bytes:
    """The raw body of one attempt (what is signed): the event, the delivery's id, the task as
    `GET /v1/tasks/{id}` shows it, and when this attempt was sent (a receiver may refuse old
    ones, against replays)."""
    body = {
        "event": delivery.event,
        "delivery_id": delivery.id,
        "task": task_view(settings, job, task).model_dump(mode="json"),
        "sent_at": iso_time(sent_at),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def webhook_headers(delivery: WebhookDelivery, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
        # The answer's excerpt is read raw: nothing compressed to decode.
        "Accept-Encoding": "identity",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: delivery.id,
        SIGNATURE_HEADER: sign(secret, body),
    }


def clean_text(raw: str, limit: int) -> str:
    """Someone else's text made safe to show: no control or format characters, one line, capped."""
    kept = "".join(
        " " if unicodedata.category(ch) in DROPPED_CATEGORIES else ch for ch in raw[: limit * 4]
    )
    return " ".join(kept.split())[:limit]


def retry_delay(attempt: int, base: float, jitter: float) -> float:
    """The wait after the `attempt`-th failed try: `base` doubled for each try before, with its
    upper half random (`jitter` in [0, 1)) so that many receivers' retries spread out."""
    full = min(LONGEST_WAIT_SECONDS, base * 2 ** min(attempt - 1, 30))
    return full / 2 + full / 2 * jitter


def retry_after_seconds(value: str | None) -> float | None:
    """A receiver's `Retry-After` in seconds (the number form only), or None."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), LONGEST_WAIT_SECONDS)


@dataclass(frozen=True)
class Answer:
    """What one attempt got: the receiver's status and an excerpt of its answer, or an error in
    words; `retryable` says whether trying again could change it; `wait` is the receiver's own
    `Retry-After`, if it gave one."""

    status: int | None = None
    error: str = ""
    excerpt: str = ""
    retryable: bool = True
    wait: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def judge(status: int) -> tuple[bool, str]:
    """Whether a status is worth another try, and what it means in words."""
    if 200 <= status < 300:
        return False, f"delivered: the receiver answered {status}"
    if 300 <= status < 400:
        return False, (
            f"the receiver answered {status}, a redirect, which is not followed: "
            "give the task the final URL"
        )
    if status in (408, 429) or status >= 500:
        return True, f"the receiver answered {status}"
    return False, f"the receiver answered {status}, which is not retried"


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a delivery is tried (from the settings)."""

    max_attempts: int
    retry_for: float
    backoff: float

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.webhook_max_attempts,
            settings.webhook_retry_for_seconds,
            settings.webhook_backoff_seconds,
        )


def next_move(
    delivery: WebhookDelivery,
    number: int,
    answer: Answer,
    now: float,
    policy: RetryPolicy,
    jitter: float,
) -> tuple[str, float | None, str]:
    """After the `number`-th attempt: the delivery's state, when it is tried next (None: never)
    and its outcome in words."""
    reason = answer.error or judge(answer.status or 0)[1]
    if answer.delivered:
        return DELIVERED, None, reason
    if not answer.retryable:
        return FAILED, None, reason
    if number >= policy.max_attempts:
        return FAILED, None, f"gave up after {number} attempts; the last: {reason}"
    wait = max(retry_delay(number, policy.backoff, jitter), answer.wait or 0.0)
    if now + wait > delivery.created_at + policy.retry_for:
        return (
            FAILED,
            None,
            (f"gave up after {number} attempts in {policy.retry_for:g} s; the last: {reason}"),
        )
    return PENDING, now + wait, reason


async def deliver_task_webhook(
    state: WebhookState, job: Job, *, now: float | None = None
) -> str | None:
    """Queue the webhook of a task that has ended (its state recorded in the store); the sender
    sends it. Returns the delivery's id; None when the task has no webhook, has not ended, or
    already has its delivery."""
    task = await state.store.task(job.id)
    if task is None or not task.webhook_url:
        return None
    current = await state.store.get_job(job.id) or job
    event = EVENTS.get(current.state)
    if event is None:
        get_logger().warning("webhook.not_ended", job_id=job.id, state=current.state.value)
        return None
    target = parse_target(task.webhook_url, state.settings)
    delivery = WebhookDelivery(
        id=str(uuid.uuid4()),
        job_id=job.id,
        event=event,
        # The settings may have changed since the task was created: its attempt says why.
        target="(refused)" if isinstance(target, str) else target.origin(),
        created_at=time.time() if now is None else now,
    )
    if not await state.store.queue_webhook(delivery):
        return None
    get_logger().info(
        "webhook.queued",
        job_id=job.id,
        delivery_id=delivery.id,
        webhook_event=event,
        target=delivery.target,
    )
    return delivery.id


async def post_pinned(
    pinned: Pinned, headers: Mapping[str, str], body: bytes, seconds: float, tls: ssl.SSLContext
) -> Answer:
    """Send the body to the checked address; the receiver's answer read only in part.

    A client per attempt: a pool would match connections by address alone, and could send one
    receiver's request over a TLS connection made for another name at the same address. No
    proxy or other setting is taken from the environment (a proxy would look the name up again).
    """
    async with (
        httpx.AsyncClient(
            timeout=seconds, follow_redirects=False, trust_env=False, verify=tls
        ) as client,
        client.stream(
            "POST",
            pinned.request_url(),
            content=body,
            headers={**headers, "Host": pinned.target.host_header()},
            extensions=pinned.request_extensions(),
        ) as response,
    ):
        read = bytearray()
        async for chunk in response.aiter_raw():
            read += chunk
            if len(read) >= RESPONSE_READ_BYTES:
                break
        retryable, _ = judge(response.status_code)
        wait = (
            retry_after_seconds(response.headers.get("retry-after"))
            if response.status_code in (429, 503)
            else None
        )
        return Answer(
            status=response.status_code,
            excerpt=clean_text(
                bytes(read[:RESPONSE_READ_BYTES]).decode("utf-8", "replace"), EXCERPT_CHARACTERS
            ),
            retryable=retryable,
            wait=wait,
        )


async def attempt_delivery(
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings,
    resolve: Resolver,
    tls: ssl.SSLContext,
) -> Answer:
    """One attempt: the target checked and pinned (a fresh lookup), then sent, all within the
    attempt's timeout."""
    timeout = settings.webhook_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            pinned = await pin_target(url, settings, resolve)
            if isinstance(pinned, str):
                return Answer(error=f"refused: the webhook URL {pinned}", retryable=False)
            return await post_pinned(pinned, headers, body, timeout, tls)
    except Unresolved as error:
        return Answer(error=clean_text(str(error), ERROR_CHARACTERS))
    except (TimeoutError, httpx.TimeoutException):
        return Answer(error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        detail = clean_text(str(error), ERROR_CHARACTERS) or type(error).__name__
        return Answer(error=f"could not reach the receiver ({detail})")
    except OSError as error:
        return Answer(
            error=f"could not reach the receiver ({error.strerror or type(error).__name__})"
        )
    except Exception as error:  # recorded as the end: a delivery never loops unrecorded
        get_logger().error("webhook.attempt_broke", error=repr(error)[:300])
        return Answer(
            error=f"the request could not be made ({type(error).__name__})", retryable=False
        )


class WebhookSender:
    """Sends due deliveries: claimed in the store, sent at once in small batches, each attempt
    recorded. `clock`, `resolve`, `jitter` and `tls` (the trusted certificates) are the tests'
    seams."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        resolve: Resolver = system_resolve,
        jitter: Callable[[], float] = random.random,
        tls: ssl.SSLContext | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._resolve = resolve
        # The system's trusted certificates (`SSL_CERT_FILE` and `SSL_CERT_DIR` respected), the
        # certificate checked against the URL's name.
        self._tls = tls or ssl.create_default_context()
        self._metrics = metrics
        self._jitter = jitter
        self.owner = f"webhooks-{uuid.uuid4().hex[:12]}"

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def store(self) -> Store:
        return self._store

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """Send what falls due until cancelled (and queue what a stop left unqueued, at once and
        then every minute); a failing pass is logged and the loop goes on."""
        caught_up = -math.inf
        while True:
            if time.monotonic() - caught_up >= CATCH_UP_SECONDS:
                caught_up = time.monotonic()
                await self._logged(self.catch_up())
            sent = await self._logged(self.run_once())
            if sent < BATCH:
                await asyncio.sleep(interval)

    async def _logged(self, step: Awaitable[int]) -> int:
        """A step of the loop; a failure (the store busy, say) is logged and the loop goes on."""
        try:
            return await step
        except Exception as error:
            get_logger().error("webhook.pass_failed", error=repr(error)[:300])
            return 0

    async def catch_up(self) -> int:
        """Queue the webhooks of tasks that ended without one (the service stopped between the
        task's end and its queuing); how many were queued."""
        now = self._clock()
        window = min(self._settings.webhook_retry_for_seconds, CATCH_UP_WINDOW_SECONDS)
        missed = await self._store.unqueued_webhooks(
            now - window, now - window - CATCH_UP_WINDOW_SECONDS, BATCH * 8
        )
        queued = 0
        for job_id in missed:
            job = await self._store.get_job(job_id)
            if job is not None and await deliver_task_webhook(self, job, now=now):
                queued += 1
        return queued

    async def run_once(self) -> int:
        """Claim the deliveries due now and try each once; how many were tried."""
        now = self._clock()
        until = now + self._settings.webhook_timeout_seconds + CLAIM_MARGIN_SECONDS
        due = await self._store.claim_webhooks(now, until, self.owner, BATCH)
        tried = await asyncio.gather(*(self._try(d) for d in due), return_exceptions=True)
        for delivery, outcome in zip(due, tried, strict=True):
            if isinstance(outcome, BaseException):  # its claim runs out, and it is tried again
                get_logger().error(
                    "webhook.attempt_failed", delivery_id=delivery.id, error=repr(outcome)[:300]
                )
        return len(due)

    async def _send(self, delivery: WebhookDelivery, job: Job, task: Task, at: float) -> Answer:
        try:
            body = webhook_body(delivery, job, task, self._settings, at)
        except Exception as error:  # a stored result that no longer reads: said, not retried
            get_logger().error("webhook.body_failed", job_id=job.id, error=repr(error)[:300])
            return Answer(error="the task's result could not be written as JSON", retryable=False)
        headers = webhook_headers(delivery, task.webhook_secret, body)
        return await attempt_delivery(
            task.webhook_url, headers, body, self._settings, self._resolve, self._tls
        )

    async def _try(self, delivery: WebhookDelivery) -> None:
        number = delivery.attempts + 1
        started, began = self._clock(), time.monotonic()
        job = await self._store.get_job(delivery.job_id)
        task = await self._store.task(delivery.job_id)
        if job is None or task is None or not task.webhook_url:
            answer = Answer(error="the task or its webhook is gone", retryable=False)
        else:
            answer = await self._send(delivery, job, task, started)
        now = self._clock()
        state, next_at, outcome = next_move(
            delivery, number, answer, now, RetryPolicy.of(self._settings), self._jitter()
        )
        attempt = WebhookAttempt(
            number=number,
            at=started,
            duration_ms=int((time.monotonic() - began) * 1000),
            status_code=answer.status,
            error=answer.error,
            response_excerpt=answer.excerpt,
            next_attempt_at=next_at,
        )
        recorded = await self._store.record_webhook_attempt(
            delivery.id, self.owner, attempt, state, outcome
        )
        if self._metrics is not None and recorded:
            self._metrics.outgoing_webhooks.labels(outcome=METRIC_OUTCOMES[state]).inc()
        log = get_logger().info if state != FAILED else get_logger().warning
        log(
            "webhook.attempt",
            job_id=delivery.job_id,
            delivery_id=delivery.id,
            target=delivery.target,
            attempt=number,
            status=answer.status,
            error=answer.error,
            state=state,
            recorded=recorded,
        )
