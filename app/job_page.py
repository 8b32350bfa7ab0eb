"""The live job page: `GET /jobs/{id}?t=<token>`, one job's log as it happens, read-only.

Server-rendered HTML (every value escaped) with the events so far, then a small inline script
that follows `GET /jobs/{id}/events?t=<token>` (the API's event stream, authorised by the page
token instead of a key) and adds each event with `textContent`, never as markup. The token opens
this one job (`app/page_tokens.py`); the page links nowhere, sends no referrer, and its
Content-Security-Policy lets only its own nonce-tagged script and style run.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Mapping, Sequence
from string import Template
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from app.api.context import ApiState
from app.api.sse import EventStreamResponse, job_events, resume_point
from app.job_events import TERMINAL_KINDS
from app.page_tokens import TokenCheck, check_token
from app.store import Job, JobEvent

SHOWN_EVENTS = 2_000  # the latest; older ones are counted, not shown
DIFF_SHOWN_CHARACTERS = 200_000
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
REFUSALS = {
    TokenCheck.MISSING: (401, "This link has no token", "Open the page from the job's link."),
    TokenCheck.FORGED: (
        403,
        "This link is not valid for this job",
        "Open the page from the link in the job's progress comment.",
    ),
    TokenCheck.EXPIRED: (
        410,
        "This link has expired",
        "Ask for a new link: the task API gives one with the task, and each new job's progress "
        "comment has its own.",
    ),
}


def csp(nonce: str) -> str:
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def page_headers(nonce: str = "") -> dict[str, str]:
    policy = csp(nonce) if nonce else "default-src 'none'; frame-ancestors 'none'"
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def input_summary(data: Mapping[str, Any]) -> str:
    shown = data.get("input")
    return " ".join(str(v) for v in shown.values()) if isinstance(shown, dict) else ""


def counts_text(run: Any) -> str:
    if not isinstance(run, dict):
        return ""
    counts = run.get("counts")
    if isinstance(counts, dict):
        return f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed"
    return str(run.get("status", ""))


def event_html(event: JobEvent) -> str:
    """One event as a list item; `usage` only updates the header, so it has none."""
    data, kind = event.data, event.kind
    if kind == "usage":
        return ""
    if kind == "status":
        body = f"● {e(data.get('state', ''))}" + (
            f" — {e(data['summary'])}" if data.get("summary") else ""
        )
    elif kind == "text":
        body = f'<div class="words">{e(data.get("text", ""))}</div>'
    elif kind == "tool_call":
        body = f"▸ <b>{e(data.get('tool', ''))}</b> <code>{e(input_summary(data))}</code>"
    elif kind == "tool_result":
        content = str(data.get("content", ""))
        label = "error" if data.get("is_error") else "result"
        body = f"<details><summary>{label} ({len(content)} characters)</summary><pre>{e(content)}</pre></details>"
    elif kind == "files":
        body = files_html(data)
    elif kind == "verification":
        if "verdict" in data:
            body = f"Tests: <b>{e(data['verdict'])}</b> {e(counts_text(data.get('after')))}"
        else:
            body = f"Test run {e(data.get('run', ''))}: {e(counts_text(data))}"
    elif kind in TERMINAL_KINDS:
        words = data.get("summary") or data.get("reason") or ""
        step = f" {e(data['next_step'])}" if data.get("next_step") else ""
        body = f"<b>{e(kind)}</b>: {e(words)}{step}"
    else:
        body = f"{e(kind)} <code>{e(json.dumps(dict(data))[:500])}</code>"
    return f'<li class="ev {e(kind)}" data-seq="{event.seq}">{body}</li>'


def files_html(data: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{e(f.get('path', ''))}</td><td class=add>+{e(f.get('additions', 0))}</td>"
        f"<td class=del>\u2212{e(f.get('deletions', 0))}</td></tr>"
        for f in data.get("files", [])
        if isinstance(f, dict)
    )
    more = f"<p>and {e(data['more'])} more</p>" if data.get("more") else ""
    return f"Files changed<table class=files>{rows}</table>{more}"


def diff_html(diff: str) -> str:
    if not diff:
        return ""
    lines = []
    for line in diff[:DIFF_SHOWN_CHARACTERS].splitlines():
        header = line.startswith(("+++ ", "--- "))
        style = "" if header else "add" if line[:1] == "+" else "del" if line[:1] == "-" else ""
        lines.append(f'<span class="{style}">{e(line)}</span>' if style else e(line))
    cut = "\n…" if len(diff) > DIFF_SHOWN_CHARACTERS else ""
    return f'<h2>Diff</h2><pre class="diff">{chr(10).join(lines)}{cut}</pre>'


def usage_of(job: Job, events: Sequence[JobEvent]) -> Mapping[str, Any]:
    latest = [event.data for event in events if event.kind == "usage"]
    return latest[-1] if latest else job.usage


def header_html(job: Job, usage: Mapping[str, Any]) -> str:
    tokens = int(usage.get("input_tokens", 0) or 0) + int(usage.get("output_tokens", 0) or 0)
    cost = float(usage.get("cost_usd", 0) or 0)
    return (
        f'<dl><dt>Status</dt><dd id="state">{e(job.state.value)}</dd>'
        f'<dt>Turns</dt><dd id="turns">{e(usage.get("turns", 0))}</dd>'
        f'<dt>Tokens</dt><dd id="tokens">{tokens:,}</dd>'
        f'<dt>Cost</dt><dd id="cost">${cost:.4f}</dd></dl>'
    )


PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>fixwright · $title</title>
<style nonce="$nonce">
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:.75rem;color:#1f2328}
h1{font-size:1.15rem;margin:.2rem 0;overflow-wrap:anywhere}h2{font-size:1rem}
dl{display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:.5rem 0}dt{color:#59636e}dd{margin:0;font-weight:600}
ol{list-style:none;padding:0;margin:0}.ev{border-top:1px solid #d1d9e0;padding:.35rem 0;overflow-wrap:anywhere}
.words{white-space:pre-wrap}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.4rem;margin:.3rem 0;font-size:13px}
code{font-size:13px}.add{color:#1a7f37}.del{color:#cf222e}.completed{color:#1a7f37}.failed,.cancelled{color:#cf222e}
table{border-collapse:collapse}td{padding:0 .5rem 0 0;overflow-wrap:anywhere}#live{color:#59636e;font-size:13px}
</style></head><body>
<h1>$title</h1><p>$target</p>$header
<p id="live">$live</p>
<ol id="events">$events</ol>
$diff
$script
</body></html>""")

SCRIPT = Template("""<script nonce="$nonce">
(function () {
  var list = document.getElementById("events");
  var terminal = ["completed", "failed", "cancelled"];
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function counts(run) {
    if (!run) return "";
    if (run.counts) return run.counts.passed + " passed, " + run.counts.failed + " failed";
    return run.status || "";
  }
  function render(kind, d) {
    var li = el("li", undefined, "ev " + kind);
    if (kind === "status") {
      li.textContent = "\\u25cf " + d.state + (d.summary ? " \\u2014 " + d.summary : "");
      document.getElementById("state").textContent = d.state;
    } else if (kind === "text") {
      li.appendChild(el("div", d.text, "words"));
    } else if (kind === "tool_call") {
      li.appendChild(document.createTextNode("\\u25b8 "));
      li.appendChild(el("b", d.tool));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("code", Object.values(d.input || {}).join(" ")));
    } else if (kind === "tool_result") {
      var details = el("details");
      details.appendChild(el("summary", (d.is_error ? "error" : "result") + " (" + String(d.content || "").length + " characters)"));
      details.appendChild(el("pre", d.content));
      li.appendChild(details);
    } else if (kind === "files") {
      li.appendChild(document.createTextNode("Files changed"));
      var table = el("table", undefined, "files");
      (d.files || []).forEach(function (f) {
        var tr = el("tr");
        tr.appendChild(el("td", f.path));
        tr.appendChild(el("td", "+" + f.additions, "add"));
        tr.appendChild(el("td", "\\u2212" + f.deletions, "del"));
        table.appendChild(tr);
      });
      li.appendChild(table);
    } else if (kind === "verification") {
      li.textContent = d.verdict ? "Tests: " + d.verdict + " " + counts(d.after) : "Test run " + d.run + ": " + counts(d);
    } else if (kind === "usage") {
      document.getElementById("turns").textContent = d.turns || 0;
      document.getElementById("tokens").textContent = ((d.input_tokens || 0) + (d.output_tokens || 0)).toLocaleString("en");
      document.getElementById("cost").textContent = "\\u0024" + Number(d.cost_usd || 0).toFixed(4);
      return null;
    } else if (terminal.indexOf(kind) >= 0) {
      li.appendChild(el("b", kind));
      li.appendChild(document.createTextNode(": " + (d.summary || d.reason || "") + (d.next_step ? " " + d.next_step : "")));
    } else {
      li.textContent = kind + " " + JSON.stringify(d).slice(0, 500);
    }
    return li;
  }
  var live = document.getElementById("live");
  var source = new EventSource($events_url);
  function handle(message) {
    var d = JSON.parse(message.data);
    var li = render(message.type, d);
    if (li) { li.dataset.seq = message.lastEventId; list.appendChild(li); }
    if (terminal.indexOf(message.type) >= 0) {
      source.close();
      live.textContent = "Finished: reloading for the final diff\\u2026";
      window.location.reload();
    }
  }
  ["status", "text", "tool_call", "tool_result", "files", "verification", "usage",
   "completed", "failed", "cancelled", "environment", "ask.commit", "review.commit"].forEach(function (kind) {
    source.addEventListener(kind, handle);
  });
  source.onmessage = handle;
  source.onopen = function () { live.textContent = "Live: new events appear as they happen."; };
  source.onerror = function () { live.textContent = "Reconnecting\\u2026"; };
})();
</script>""")


def render_page(job: Job, events: Sequence[JobEvent], token: str, diff: str, nonce: str) -> str:
    """The whole page: header, the events so far, the diff once there is one, and the script
    that follows the stream unless the job's log has already ended."""
    shown = events[-SHOWN_EVENTS:]
    earlier = len(events) - len(shown)
    items = (f"<li class=ev>{earlier} earlier events not shown</li>" if earlier else "") + "".join(
        event_html(event) for event in shown
    )
    ended = any(event.kind in TERMINAL_KINDS for event in events)
    last = events[-1].seq if events else 0
    url = f"/jobs/{quote(job.id, safe='')}/events?t={quote(token, safe='.')}&last_event_id={last}"
    in_script = json.dumps(url).replace("<", "\\u003c")
    script = "" if ended else SCRIPT.substitute(nonce=nonce, events_url=in_script)
    title = f"{job.kind} job {job.id}"
    return PAGE.substitute(
        nonce=nonce,
        title=e(title),
        target=e(f"{job.target} · requested by {job.requested_by}"),
        header=header_html(job, usage_of(job, events)),
        live="Finished." if ended else "Connecting…",
        events=items,
        diff=diff_html(diff),
        script=script,
    )


def refusal_page(status: int, heading: str, advice: str) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(heading)}</title></head><body><h1>{e(heading)}</h1><p>{e(advice)}</p>"
        "</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=page_headers())


async def authorised_job(request: Request) -> tuple[ApiState, Job] | Response:
    """The job the token opens, or the page that says why not (the token is checked before
    the job is looked up, so a bad link learns nothing of which jobs exist)."""
    state = getattr(request.app.state, "api", None)
    if not isinstance(state, ApiState):
        return refusal_page(503, "The service is starting", "Try again in a moment.")
    job_id = request.path_params["id"]
    check = check_token(state.settings, job_id, request.query_params.get("t"), state.clock())
    if check is not TokenCheck.VALID:
        return refusal_page(*REFUSALS[check])
    job = await state.store.get_job(job_id)
    if job is None:
        return refusal_page(404, "No such job", "The job's record is gone (retention).")
    return state, job


async def job_page(request: Request) -> Response:
    found = await authorised_job(request)
    if isinstance(found, Response):
        return found
    state, job = found
    events = await state.store.events(job.id)
    task = await state.store.task(job.id)
    nonce = secrets.token_urlsafe(16)
    page = render_page(job, events, request.query_params["t"], task.diff if task else "", nonce)
    return HTMLResponse(page, headers=page_headers(nonce))


async def page_events(request: Request) -> Response:
    """The same stream as the API's, for the page's script."""
    found = await authorised_job(request)
    if isinstance(found, Response):
        return found
    state, job = found
    after = resume_point(
        request.headers.get("last-event-id"), request.query_params.get("last_event_id")
    )
    if after is None:
        return refusal_page(400, "Not an event id", "Reload the page.")
    stream = job_events(
        state.store,
        state.hub,
        job.id,
        after,
        heartbeat_seconds=state.settings.sse_heartbeat_seconds,
    )
    response = EventStreamResponse(stream)
    response.headers.update(SECURITY_HEADERS)
    return response


def job_page_routes() -> list[BaseRoute]:
    return [
        Route("/jobs/{id}", job_page, methods=["GET"]),
        Route("/jobs/{id}/events", page_events, methods=["GET"]),
    ]
