"""The set-up page: server-rendered, every value escaped, no script, nothing from elsewhere.

Its Content-Security-Policy allows only its own inline style (by hash), and forms that go to this
service or to GitHub's new-App page; the form posts the manifest, GitHub's manifest flow does the rest.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}"
    "button{font:inherit;padding:.4rem 1rem}input{font:inherit}.note{color:#555}"
    ".fail{color:#a00}code{background:#f3f3f3;padding:0 .2rem}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def csp(github_web_url: str) -> str:
    parts = urlsplit(github_web_url)
    github = f"{parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; form-action 'self' {github}; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


def page(title: str, body: str, github_web_url: str, status: int = 200) -> HTMLResponse:
    """A whole page around `body` (already escaped), with the headers that keep it inert."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": csp(github_web_url),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def register_page(
    action: str, manifest: dict[str, Any], organisation: str, github_web_url: str, base: str
) -> HTMLResponse:
    """The form that registers the App, on the account or on `organisation`."""
    where = f"the organisation <b>{escape(organisation)}</b>" if organisation else "your account"
    body = (
        "<p>fixwright is not registered as a GitHub App yet. Register it from its manifest "
        f"(its permissions and events), on {where}; GitHub then sends you back here.</p>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="manifest" value="{escape(json.dumps(manifest))}">'
        '<button type="submit" id="register">Register the GitHub App</button></form>'
        '<form method="get" action="/setup"><p><label>Register it on an organisation '
        f'instead: <input name="org" value="{escape(organisation)}" '
        'pattern="[A-Za-z0-9][A-Za-z0-9-]{0,38}" placeholder="organisation"></label> '
        '<button type="submit">Use this organisation</button></p></form>'
        f'<p class="note">GitHub will send webhooks to <code>{escape(base)}/webhooks/github'
        "</code>: this address must reach this service (set <code>FIXWRIGHT_PUBLIC_URL</code> "
        "otherwise). The App's keys are stored encrypted in the state directory.</p>"
    )
    return page("Set up fixwright", body, github_web_url)


def registered_page(
    slug: str, install: str, github_web_url: str, restart_needed: bool, overridden: tuple[str, ...]
) -> HTMLResponse:
    """After the conversion: the install link, and whether the running service uses the App yet
    (it does not after `fixwright setup reopen`, nor while the environment names another App)."""
    if overridden:
        names = ", ".join(f"<code>{escape(name)}</code>" for name in overridden)
        after = (
            f"<p><b>Not used yet:</b> the environment sets {names}, which win over the stored "
            "App. Remove them, then restart the service.</p>"
        )
    elif restart_needed:
        after = (
            "<p><b>Restart the service to apply:</b> until then it keeps using the App it "
            "started with.</p>"
        )
    else:
        after = "<p>The service now takes deliveries.</p>"
    body = (
        f"<p>The GitHub App <b>{escape(slug)}</b> is registered and its credentials are stored "
        f"encrypted.</p>{after}"
        f'<p><a id="install" href="{escape(install)}">Install it on your repositories</a>, then '
        "label an issue <code>fixwright</code>.</p>"
    )
    return page("fixwright is registered", body, github_web_url)


def refused_page(reason: str, github_web_url: str, status: int) -> HTMLResponse:
    body = f'<p class="fail">{escape(reason)}</p><p><a href="/setup">Back to set-up</a></p>'
    return page("Set-up refused", body, github_web_url, status)
