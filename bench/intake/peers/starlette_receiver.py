"""The bare Starlette + uvicorn peer: check the HMAC, parse the JSON, answer 202; nothing stored.

PORT=8001 WEBHOOK_SECRET=... python -m bench.intake.peers.starlette_receiver
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_app(secret: str) -> Starlette:
    """A receiver that does only what any safe receiver must: verify, then parse."""
    key = secret.encode()

    async def receive(request: Request) -> Response:
        body = await request.body()
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        payload = json.loads(body)
        return JSONResponse({"status": "received", "action": payload.get("action")}, 202)

    return Starlette(routes=[Route("/webhooks/github", receive, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(
        create_app(os.environ["WEBHOOK_SECRET"]),
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        access_log=False,
    )
