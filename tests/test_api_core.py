"""The API's core in process: keys, scopes, rate limits, request ids, CORS, the error shape,
`GET /v1/audit`, `/openapi.json`, and `fixwright keys`, against the service's own app."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.auth import SCOPES, new_key
from app.api.context import ApiState
from app.audit import Action
from app.cli import main
from app.config import ConfigError, load_settings
from app.routing import Registry
from app.store.model import AuditEntry, AuditQuery
from app.web import create_app
from tests.fakes.github.fixtures import FakeGitHub
from tests.fixtures.inprocess import log_events

ORIGIN = "https://ci.example.com"
# The start of an hour: the minute and hour windows both start here.
START = 1_800_000_000.0 - 1_800_000_000.0 % 3600


class Clock:
    """The API's clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    client: httpx.AsyncClient
    state: ApiState
    clock: Clock

    async def key(self, scopes: tuple[str, ...] = SCOPES, **fields: Any) -> str:
        """A stored key with `scopes` (and any record field given), as its holder sends it."""
        made = new_key("test key", scopes, self.clock() - 60)
        await self.state.store.add_api_key(replace(made.record, **fields))
        return made.key

    async def get(self, path: str, key: str | None = None, **headers: str) -> httpx.Response:
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.client.get(path, headers=headers)


@pytest.fixture
async def make_api(fake_github: FakeGitHub, tmp_path: Path) -> AsyncIterator[Any]:
    """Starts the service's app (its lifespan too) with settings overrides, on one store."""
    running: list[Any] = []

    async def make(**overrides: Any) -> Api:
        settings = fake_github.settings(
            **{
                "store_url": f"sqlite:///{tmp_path / 'fixwright.db'}",
                "state_dir": str(tmp_path / "state"),
                "workers": 0,
                "app_slug": "fixwright",
                "reconcile_interval_seconds": 0.0,
                **overrides,
            }
        )
        front = create_app(settings, Registry([]))
        lifespan = front.app.router.lifespan_context(front.app)
        await lifespan.__aenter__()
        running.append(lifespan)
        # A failure of the app is answered as a client would see it (a 500), not raised here.
        transport = httpx.ASGITransport(app=front, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://fixwright")
        state = front.state.api
        clock = Clock(START + 1)
        state.clock = clock
        return Api(client, state, clock)

    yield make
    for lifespan in reversed(running):
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def api(make_api: Any) -> Api:
    return await make_api(api_cors_origins=(ORIGIN,))


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape, with the answer's request id in the body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return dict(body["error"])


# Authentication


async def test_a_request_without_a_key_is_401_and_not_counted(api: Api) -> None:
    """No key: 401 `unauthorized` with a bearer challenge, and no rate-limit headers."""
    response = await api.get("/v1/audit")
    assert "Authorization: Bearer" in assert_error(response, 401, "unauthorized")["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "x-ratelimit-limit" not in response.headers
    other_scheme = await api.client.get("/v1/audit", headers={"Authorization": "Basic eDp5"})
    assert_error(other_scheme, 401, "unauthorized")


async def test_an_unknown_key_and_a_wrong_secret_get_the_same_answer(api: Api) -> None:
    """An unknown id, a known id with another secret, and a malformed key are all 401; the
    first two say the same, so the answer does not tell which ids exist."""
    key = await api.key()
    known_id = key.split("_")[1]
    wrong_secret = await api.get("/v1/audit", f"fw_{known_id}_{'x' * 43}")
    unknown_id = await api.get("/v1/audit", f"fw_{'0' * 16}_{key.split('_', 2)[2]}")
    assert assert_error(wrong_secret, 401, "unauthorized") == assert_error(
        unknown_id, 401, "unauthorized"
    )
    for malformed in ("fw_", "fw_zz_" + "y" * 40, key + "=", "x" * 5000):
        assert_error(await api.get("/v1/audit", malformed), 401, "unauthorized")
    latin = await api.client.get(
        "/v1/audit", headers={"Authorization": b"Bearer " + key.encode() + b"\xe9"}
    )
    assert_error(latin, 401, "unauthorized")
    assert (await api.get("/v1/audit", key)).status_code == 200


async def test_an_expired_or_revoked_key_is_401_saying_so(api: Api) -> None:
    """A key past its expiry, or revoked, no longer works; the answer says which."""
    expired = await api.key(expires_at=api.clock() - 1)
    assert (
        "expired"
        in assert_error(await api.get("/v1/audit", expired), 401, "unauthorized")["message"]
    )
    lasting = await api.key(expires_at=api.clock() + 60)
    assert (await api.get("/v1/audit", lasting)).status_code == 200
    api.clock.now += 61
    assert_error(await api.get("/v1/audit", lasting), 401, "unauthorized")
    revoked = await api.key()
    assert (await api.get("/v1/audit", revoked)).status_code == 200
    assert await api.state.store.revoke_api_key(revoked.split("_")[1])
    message = assert_error(await api.get("/v1/audit", revoked), 401, "unauthorized")["message"]
    assert "revoked" in message


async def test_a_key_without_the_scope_is_403(api: Api) -> None:
    """A key without `audit:read` cannot read the trail (403 `forbidden`, naming the scope),
    and the refused request still counts against its limits."""
    key = await api.key(("tasks:read", "tasks:write"))
    response = await api.get("/v1/audit", key)
    assert "audit:read" in assert_error(response, 403, "forbidden")["message"]
    assert response.headers["x-ratelimit-remaining"] == "59"


# Rate limits


async def test_the_minute_limit_answers_429_with_retry_after(api: Api) -> None:
    """A key with 2 a minute: its answers count down, the third is 429 with Retry-After until
    the minute ends, and the next minute starts again."""
    key = await api.key(per_minute=2)
    api.clock.now = START + 45
    first, second = [await api.get("/v1/audit", key) for _ in range(2)]
    assert [r.headers["x-ratelimit-remaining"] for r in (first, second)] == ["1", "0"]
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-reset"] == str(int(START + 60))
    refused = await api.get("/v1/audit", key)
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "15"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == str(int(START + 60))
    api.clock.now = START + 60
    again = await api.get("/v1/audit", key)
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining"] == "1"


async def test_the_hour_limit_and_the_service_defaults(api: Api) -> None:
    """A key's hour limit holds across minutes; a key without limits of its own gets the
    service's (60 a minute, 1,000 an hour), and each key is counted on its own."""
    hourly = await api.key(per_minute=100, per_hour=3)
    for minute in range(3):
        api.clock.now = START + 60 * minute + 1
        assert (await api.get("/v1/audit", hourly)).status_code == 200
    api.clock.now = START + 600
    refused = await api.get("/v1/audit", hourly)
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "3000"
    assert refused.headers["x-ratelimit-limit"] == "3"
    plain = await api.get("/v1/audit", await api.key())
    assert plain.headers["x-ratelimit-limit"] == "60"
    assert plain.headers["x-ratelimit-remaining"] == "59"


# Request ids


async def test_a_request_id_is_accepted_generated_and_logged(
    api: Api, logged: list[dict[str, Any]]
) -> None:
    """The caller's X-Request-ID is echoed (body and header) and is in the request's log line;
    without one, or with one that is not printable ASCII within 200 characters, a new one."""
    key = await api.key()
    given = await api.get("/v1/audit", key, **{"X-Request-ID": "ci-run-42.step/7"})
    assert given.headers["x-request-id"] == "ci-run-42.step/7"
    refused = await api.get("/v1/nowhere", **{"X-Request-ID": "ci-run-43"})
    assert assert_error(refused, 404, "not_found") and refused.json()["request_id"] == "ci-run-43"
    generated = await api.get("/v1/audit", key)
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    for bad in ("a b", "x" * 201, "tab\there"):
        replaced = await api.get("/v1/audit", key, **{"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    lines = {line["request_id"]: line for line in log_events(logged, "api.request")}
    assert lines["ci-run-42.step/7"]["status"] == 200
    assert lines["ci-run-42.step/7"]["api_key"] == key.split("_")[1]
    assert lines["ci-run-43"]["status"] == 404
    assert generated.headers["x-request-id"] in lines


# CORS


async def test_a_preflight_from_an_allowed_origin_is_answered(api: Api) -> None:
    """The configured origin may send the API's methods and headers; its answers name it."""
    preflight = await api.client.options(
        "/v1/audit",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization, X-Request-ID",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers
    answer = await api.get("/v1/audit", await api.key(), Origin=ORIGIN)
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "X-RateLimit-Remaining" in answer.headers["access-control-expose-headers"]


async def test_a_preflight_from_another_origin_or_for_another_header_is_refused(api: Api) -> None:
    """Another origin, a method the API does not take or a header it does not read: 403 in the
    API's shape, with no permission the browser could use."""
    asks = [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Custom",
        },
    ]
    for headers in asks:
        refused = await api.client.options("/v1/audit", headers=headers)
        assert_error(refused, 403, "cors_refused")
        assert "access-control-allow-origin" not in refused.headers
    answer = await api.get("/v1/audit", await api.key(), Origin="https://evil.example")
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


async def test_no_origin_is_allowed_by_default(make_api: Any) -> None:
    """Without FIXWRIGHT_API_CORS_ORIGINS no page may call the API."""
    api = await make_api()
    refused = await api.client.options(
        "/v1/audit", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert_error(refused, 403, "cors_refused")
    assert "access-control-allow-origin" not in refused.headers


# The error shape


async def test_unknown_paths_and_methods_answer_in_the_api_shape(api: Api) -> None:
    """404 and 405 under /v1 and on /openapi.json use the one error shape; 405 says what is
    allowed."""
    assert_error(await api.get("/v1/no-such-thing"), 404, "not_found")
    assert_error(await api.get("/v1"), 404, "not_found")
    not_allowed = await api.client.post("/v1/audit")
    assert_error(not_allowed, 405, "method_not_allowed")
    assert "GET" in not_allowed.headers["allow"]
    assert_error(await api.client.delete("/openapi.json"), 405, "method_not_allowed")


async def test_a_failure_of_the_service_is_a_500_without_detail(api: Api) -> None:
    """A store that cannot answer (not bad input) is a 500 in the same shape, saying nothing of
    the cause, with the request id to find it in the log."""
    key = await api.key()
    await api.state.store.close()
    failed = await api.get("/v1/audit", key)
    error = assert_error(failed, 500, "internal_error")
    assert "request id" in error["message"]
    assert "sqlite" not in failed.text.lower()


# GET /v1/audit


async def record(api: Api, action: Action, actor: str, repository: str) -> None:
    await api.state.store.record_audit(
        AuditEntry(action.value, actor, repository, 7, "job-1", f"{repository}#1: done")
    )


async def test_the_audit_trail_is_filtered_by_repository_actor_and_limit(api: Api) -> None:
    """Each filter narrows the entries; `limit` keeps the newest, oldest first."""
    await record(api, Action.PUSH, "octocat", "octo/hello")
    await record(api, Action.QUOTA_REFUSED, "hubot", "octo/hello")
    await record(api, Action.PUSH, "octocat", "octo/other")
    key = await api.key(("audit:read",))

    async def actions(query: str) -> list[tuple[str, str, str]]:
        response = await api.get("/v1/audit" + query, key)
        assert response.status_code == 200, response.text
        return [(e["action"], e["actor"], e["repository"]) for e in response.json()["entries"]]

    assert len(await actions("")) == 3
    assert await actions("?repository=octo/hello&actor=octocat") == [
        ("push", "octocat", "octo/hello")
    ]
    assert await actions("?actor=hubot") == [("quota.refused", "hubot", "octo/hello")]
    assert await actions("?limit=1") == [("push", "octocat", "octo/other")]
    assert await actions("?since=2000-01-01") != []
    assert await actions("?since=2999-01-01T00:00:00Z") == []
    entry = (await api.get("/v1/audit?limit=1", key)).json()["entries"][0]
    assert entry["installation_id"] == 7 and entry["subject"] == "job-1"
    assert entry["at"].endswith("+00:00")


async def test_a_bad_audit_query_is_400_naming_every_problem(api: Api) -> None:
    """Every parameter's problem is listed at once; hostile values are refused, never a 500."""
    key = await api.key(("audit:read",))
    response = await api.get(
        "/v1/audit?repository=octo&since=tomorrow&limit=0&colour=red&actor=" + "a" * 101, key
    )
    details = assert_error(response, 400, "invalid_query")["details"]
    assert {d["field"] for d in details} == {"repository", "since", "limit", "colour", "actor"}
    for query in ("since=0001-01-01T00:00:00%2B14:00", "since=9999-12-31T23:59:59-14:00"):
        assert (await api.get(f"/v1/audit?{query}", key)).status_code == 200, query
    for query in (
        "since=2026-13-01",
        "since=%F0%9F%92%A5",
        "limit=%D9%A3",
        "limit=1e9",
        "since=" + "9" * 5000,
        "repository=%00/%00",
    ):
        assert (await api.get(f"/v1/audit?{query}", key)).status_code == 400, query


# /openapi.json


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


async def test_the_openapi_document_describes_the_api(api: Api) -> None:
    """OpenAPI 3.1 with the bearer scheme, the error schema, the rate-limit headers and the
    audit operation; every reference in it resolves; no key is needed to read it."""
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    components = document["components"]
    assert components["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert set(components["schemas"]["Error"]["required"]) == {"error", "request_id"}
    audit = document["paths"]["/v1/audit"]["get"]
    assert audit["security"] == [{"bearer": []}]
    assert {"200", "401", "403", "429"} <= set(audit["responses"])
    assert "Retry-After" in audit["responses"]["429"]["headers"]
    assert "X-RateLimit-Remaining" in audit["responses"]["200"]["headers"]
    assert {p["name"] for p in audit["parameters"]} == {"repository", "actor", "since", "limit"}
    for ref in references(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components["schemas"], ref


# fixwright keys


async def keys(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`fixwright keys <args>` as an operator runs it (on a thread: it runs its own loop)."""
    code = await asyncio.to_thread(main, ["keys", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_key_made_by_the_cli_is_shown_once_and_works_until_revoked(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys create` prints the key once (the store keeps its hash), `keys list` never shows a
    secret, `keys revoke` stops it; both are in the audit trail."""
    monkeypatch.setenv("FIXWRIGHT_STORE_URL", f"sqlite:///{tmp_path / 'fixwright.db'}")
    code, out, _ = await keys(
        capsys, "create", "--name", "nightly CI", "--scope", "audit:read", "--expires", "30d"
    )
    assert code == 0
    key = re.search(r"^key: +(fw_\S+)$", out, re.MULTILINE)
    assert key is not None
    key_id, secret = key[1].split("_", 2)[1:]
    api.clock.now = time.time()  # the CLI made the key at the real time
    assert (await api.get("/v1/audit", key[1])).status_code == 200
    code, listing, _ = await keys(capsys, "list")
    assert code == 0 and key_id in listing and "nightly CI" in listing and "active" in listing
    assert secret not in listing and "fw_" not in listing
    with sqlite3.connect(tmp_path / "fixwright.db") as db:
        dump = "\n".join(db.iterdump())
    assert secret not in dump
    assert (await keys(capsys, "revoke", key_id))[0] == 0
    assert_error(await api.get("/v1/audit", key[1]), 401, "unauthorized")
    code, _, err = await keys(capsys, "revoke", key_id)
    assert code == 1 and "revoked already" in err
    assert (await keys(capsys, "revoke", "0" * 16))[0] == 1
    assert (await keys(capsys, "revoke", "../x"))[0] == 2
    assert "revoked" in (await keys(capsys, "list"))[1]
    trail = await api.state.store.audit_entries(AuditQuery())
    assert [e.action for e in trail if e.subject == key_id] == [
        "api_key.created",
        "api_key.revoked",
    ]


def test_keys_create_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scope, an expiry that is not a duration and a limit of 0 are refused (exit 2)
    before anything is stored."""
    for options in (
        ["--scope", "tasks:delete"],
        ["--expires", "soon"],
        ["--per-minute", "0"],
        ["--name", ""],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["keys", "create", "--name", "x", *options])
        assert exit_.value.code == 2
    assert "tasks:delete" in capsys.readouterr().err


def test_a_cors_origin_that_is_not_one_stops_the_start() -> None:
    """An origin without its scheme, or with a path, would never match a browser's: refused at
    start, naming the variable; `*` and origins with ports are taken."""
    for wrong in ("ci.example.com", "https://ci.example.com/", "https://ci.example.com/app"):
        with pytest.raises(ConfigError, match=r"FIXWRIGHT_API_CORS_ORIGINS .* is not an origin"):
            load_settings({"FIXWRIGHT_API_CORS_ORIGINS": wrong}, None, for_github=False)
    taken = load_settings(
        {"FIXWRIGHT_API_CORS_ORIGINS": "https://ci.example.com:8443, *"}, None, for_github=False
    )
    assert taken.api_cors_origins == ("https://ci.example.com:8443", "*")
