"""The fake's App manifest flow: the new-App page a manifest is posted to, and the conversion.

POST /settings/apps/new?state=… (or /organizations/<org>/settings/apps/new) with the form field
`manifest` creates the App at once, as if its owner had clicked GitHub's "Create GitHub App": the
fake then plays that App (its id, its new key pair, its slug), and the browser is sent to the
manifest's `redirect_url` with a `code` and the `state`. POST /app-manifests/{code}/conversions
(unauthenticated, each code once) answers the App with its secrets, as GitHub does.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.github import payloads
from tests.fakes.github.auth import ApiError, not_found
from tests.fakes.github.respond import answer, state_of

MAX_FORM_BYTES = 64 * 1024


def slug_of(name: str) -> str:
    """GitHub's slug for an App's name: lower case, runs of other characters as one `-`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:34] or "app"


async def new_app_page(request: Request) -> Response:
    """GET: what a person sees without a manifest (the fake only takes posted manifests)."""
    del request
    return HTMLResponse("<!doctype html><title>New GitHub App</title><p>Post a manifest here.</p>")


async def create_from_form(request: Request) -> Response:
    """POST with `manifest`: make the App and send the browser back with a one-time code."""
    from tests.fakes.github.fixtures import generate_private_key, public_key_of

    state = state_of(request)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError(422, "The manifest is too large")
    fields = parse_qs(body.decode("utf-8", "replace"))
    try:
        manifest: Any = json.loads(fields.get("manifest", [""])[0])
    except ValueError:
        raise ApiError(422, "The manifest is not JSON") from None
    redirect = manifest.get("redirect_url") if isinstance(manifest, dict) else None
    if not isinstance(redirect, str) or urlsplit(redirect).scheme not in ("http", "https"):
        raise ApiError(422, "The manifest has no redirect_url")
    private_key = generate_private_key()
    code = secrets.token_hex(16)
    with state.manifest_lock:
        state.app_id = state.next_id()
        state.public_key = public_key_of(private_key)
        state.app_slug = slug_of(str(manifest.get("name") or "app"))
        state.webhook_secret = secrets.token_hex(20)
        state.manifests.append(
            {
                "manifest": manifest,
                "organization": request.path_params.get("org"),
                "state": request.query_params.get("state", ""),
            }
        )
        state.manifest_codes[code] = {
            **payloads.app(state),
            "client_secret": secrets.token_hex(20),
            "webhook_secret": state.webhook_secret,
            "pem": private_key,
        }
    query = urlencode({"code": code, "state": request.query_params.get("state", "")})
    return RedirectResponse(f"{redirect}?{query}", status_code=302)


async def conversion(request: Request) -> Response:
    state = state_of(request)
    with state.manifest_lock:
        found = state.manifest_codes.pop(request.path_params["code"], None)
    if found is None:
        raise not_found()
    return answer(found, 201)


ROUTES = [
    Route("/settings/apps/new", new_app_page, methods=["GET"]),
    Route("/settings/apps/new", create_from_form, methods=["POST"]),
    Route("/organizations/{org}/settings/apps/new", new_app_page, methods=["GET"]),
    Route("/organizations/{org}/settings/apps/new", create_from_form, methods=["POST"]),
    Route("/app-manifests/{code}/conversions", conversion, methods=["POST"]),
]
