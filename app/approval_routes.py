"""`POST /v1/approvals/{token_id}`: a request waiting for approval decided with a single-use token.

An operator mints a token for one waiting job (`fixwright approvals token <job-id>`) and hands it
to whoever should decide, a chat or e-mail integration for instance. The path names the token's
public id; the secret travels only as the bearer credential, and the store keeps only its
SHA-256, compared in constant time. A token decides once: a second completion answers 409 with
the first decision. It never appears in a comment, where anyone could read and use it.

    401  no bearer, an unknown token id, or a secret that does not match
    400  a body that is not `{"decision": "approve"|"deny", "reason"?: "..."}` (each problem named)
    409  the token was used already, or the request was decided another way (the decision given)
    410  the token expired
    413  a body over 16 KiB
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api.errors import request_id_of
from app.audit import Action, audit
from app.errors import error_body
from app.store import ApprovalToken, Store

APPROVAL_PATH = "/v1/approvals/{token_id}"
MAX_BODY_BYTES = 16 * 1024
REASON_LIMIT = 500
TOKEN_ID = re.compile(r"[0-9a-f]{16}")
SECRET_PREFIX = "fwa_"  # noqa: S105 (a prefix that makes a token recognisable, no secret)
DECISIONS = {"approve": "approved", "deny": "denied"}
BODY_FIELDS = ("decision", "reason")
# Compared against when the id is unknown, so an unknown id costs what a wrong secret costs.
UNKNOWN_SECRET_SHA256 = hashlib.sha256(b"no such token").digest()


@dataclass(frozen=True)
class Minted:
    """A new token: the id for the path and the secret for the bearer, shown once."""

    token_id: str
    secret: str
    expires_at: float


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def secret_sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "replace")).digest()


async def mint_token(store: Store, job_id: str, expires_seconds: float) -> Minted | None:
    """A token for a job waiting for approval (None when it waits for none); only its hash is kept."""
    now = time.time()
    minted = Minted(
        secrets.token_hex(8), SECRET_PREFIX + secrets.token_urlsafe(32), now + expires_seconds
    )
    token = ApprovalToken(
        id=minted.token_id,
        job_id=job_id,
        secret_sha256=secret_sha256(minted.secret),
        created_at=now,
        expires_at=minted.expires_at,
    )
    return minted if await store.add_approval_token(token) else None


def rejected(status: int, code: str, message: str, **extra: Any) -> Answer:
    return Answer(status, {**error_body(code, message), **extra})


def bearer_of(authorization: str) -> str:
    scheme, _, given = authorization.partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def body_problems(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """The body's fields, or every problem with them."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}, ['the body must be JSON: {"decision": "approve" or "deny"}']
    if not isinstance(data, dict):
        return {}, ["the body must be a JSON object"]
    problems = [
        f"unknown field `{str(key)[:40]}` (known: {', '.join(BODY_FIELDS)})"
        for key in data
        if key not in BODY_FIELDS
    ]
    if data.get("decision") not in DECISIONS:
        problems.append('`decision` must be "approve" or "deny"')
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        problems.append("`reason` must be a string")
    elif len(reason) > REASON_LIMIT or any(not c.isprintable() for c in reason):
        problems.append(f"`reason` must be one line of at most {REASON_LIMIT} characters")
    return data, problems


async def complete(
    store: Store, token_id: str, authorization: str, raw: bytes, notice_kind: str | None = None
) -> Answer:
    """The answer to one completion: authenticated first, then the body, then the token's state.
    A decision made queues a job of `notice_kind` that tells the thread."""
    given = bearer_of(authorization)
    if not given:
        return rejected(
            401, "unauthorized", "send the token's secret as `Authorization: Bearer <secret>`"
        )
    token = await store.approval_token(token_id) if TOKEN_ID.fullmatch(token_id) else None
    expected = token.secret_sha256 if token else UNKNOWN_SECRET_SHA256
    if not hmac.compare_digest(secret_sha256(given), expected) or token is None:
        return rejected(
            401, "invalid_token", "the approval token is unknown or its secret does not match"
        )
    if len(raw) > MAX_BODY_BYTES:
        return rejected(413, "body_too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    data, problems = body_problems(raw)
    if problems:
        answer = rejected(400, "invalid_body", "; ".join(problems))
        answer.body["error"]["details"] = [{"problem": problem} for problem in problems]
        return answer
    if token.used_at is not None:
        return rejected(
            409, "already_decided", "this token was used already", decision=token.decision
        )
    if token.expires_at <= time.time():
        return rejected(410, "token_expired", "this approval token expired: mint another one")
    decision, reason = DECISIONS[data["decision"]], " ".join(str(data.get("reason", "")).split())
    actor = f"token:{token.id}"
    approval, decided = await store.decide_approval(
        token.job_id, decision, actor, reason=reason, token_id=token.id, notice_kind=notice_kind
    )
    if approval is None or not decided:
        first = approval.decision if approval else ""
        return rejected(
            409, "already_decided", f"the request was {first or 'decided'} already", decision=first
        )
    action = Action.APPROVAL_GRANTED if decision == "approved" else Action.APPROVAL_DENIED
    await audit(
        store,
        action,
        actor=actor,
        repository=approval.repository,
        installation_id=approval.installation_id,
        subject=approval.job_id,
        detail=f"{approval.target}: {approval.kind} requested by {approval.requested_by}"
        + (f"; {reason}" if reason else ""),
    )
    return Answer(200, {"job_id": approval.job_id, "decision": decision})


async def read_capped(request: Request) -> bytes:
    """The body, read no further than one byte past the cap."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            break
    return bytes(body)


async def complete_approval(request: Request) -> Response:
    service = request.app.state.service
    notice = service.registry.approval_notice
    answer = await complete(
        service.store,
        request.path_params["token_id"],
        request.headers.get("authorization", ""),
        await read_capped(request),
        notice.name if notice else None,
    )
    body = (
        answer.body
        if answer.status < 400
        else {**answer.body, "request_id": request_id_of(request)}
    )
    response = JSONResponse(body, status_code=answer.status)
    if answer.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if answer.status == 200:  # the approved job, or the notice of the decision, is queued
        service.pool.wake()
    return response


def approval_routes() -> list[Route]:
    return [Route(APPROVAL_PATH, complete_approval, methods=["POST"])]
