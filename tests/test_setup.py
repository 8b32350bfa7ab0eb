"""Set-up by manifest and the secrets stored encrypted: the flow against the fake GitHub, the
`state`'s single use and expiry, refusals, the store's file modes, env over stored, rotate-key."""

from __future__ import annotations

import html
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from app.cli import main
from app.config import ConfigError, Settings, load_settings
from app.routing import Registry
from app.secrets_store import (
    KEY_FILE,
    REOPENED,
    STORE_FILE,
    SecretsError,
    SecretsStore,
    key_path,
    read_private_file,
    rotate_key,
)
from app.setup_flow import MANIFESTS, PendingStates, load_manifest
from app.web import create_app
from tests.fakes.github.fixtures import FakeGitHub, generate_private_key
from tests.fakes.github.webhooks import sign
from tests.fixtures.inprocess import log_events
from tests.test_health import served

PEM = generate_private_key()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# The state: random, single-use, expiring.


def test_a_state_is_redeemed_once() -> None:
    states = PendingStates()
    state = states.issue()
    assert states.redeem(state) == ""
    assert "used already" in states.redeem(state)


def test_a_state_expires_after_an_hour() -> None:
    now = [1000.0]
    states = PendingStates(clock=lambda: now[0])
    state = states.issue()
    now[0] += 3601
    assert "expired" in states.redeem(state)


def test_a_state_this_service_never_gave_is_refused() -> None:
    states = PendingStates()
    states.issue()
    assert states.redeem("x" * 43) != ""
    assert states.redeem("") != ""
    assert states.redeem("../../etc") != ""


def test_the_manifest_is_found_in_the_working_directory_beside_an_installed_package(
    tmp_path: Path,
) -> None:
    """In the service image the package is installed, and manifest.yml is in its working directory."""
    here = tmp_path / "manifest.yml"
    here.write_text(MANIFESTS[0].read_text())
    manifest = load_manifest((tmp_path / "site-packages" / "manifest.yml", here))
    assert manifest["default_permissions"]["contents"] == "write"
    with pytest.raises(OSError):
        load_manifest((tmp_path / "absent.yml",))


# The encrypted store.


def test_stored_values_round_trip_encrypted_with_owner_only_files(
    tmp_path: Path, logged: list[dict[str, Any]]
) -> None:
    store = SecretsStore(tmp_path)
    store.write({"PRIVATE_KEY": PEM, "WEBHOOK_SECRET": "hook-secret-value"})
    assert store.read() == {"PRIVATE_KEY": PEM, "WEBHOOK_SECRET": "hook-secret-value"}
    content = (tmp_path / STORE_FILE).read_bytes()
    assert b"hook-secret-value" not in content and b"PRIVATE KEY" not in content
    assert mode_of(tmp_path / STORE_FILE) == 0o600
    assert mode_of(tmp_path / KEY_FILE) == 0o600
    (warning,) = log_events(logged, "secrets.key_generated")
    assert "back this file up" in warning["remedy"]


def test_a_configured_key_is_used_and_no_key_file_is_made(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    SecretsStore(tmp_path, key).write({"APP_ID": "7"})
    assert not (tmp_path / KEY_FILE).exists()
    assert SecretsStore(tmp_path, key).read() == {"APP_ID": "7"}
    with pytest.raises(SecretsError, match="cannot be decrypted"):
        SecretsStore(tmp_path, Fernet.generate_key().decode()).read()


def test_the_store_is_never_read_through_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    SecretsStore(elsewhere).write({"APP_ID": "7"})
    data = tmp_path / "data"
    data.mkdir()
    (data / STORE_FILE).symlink_to(elsewhere / STORE_FILE)
    (data / KEY_FILE).symlink_to(elsewhere / KEY_FILE)
    with pytest.raises(SecretsError, match="symbolic link"):
        read_private_file(data / KEY_FILE)
    with pytest.raises(SecretsError, match="symbolic link"):
        SecretsStore(data, Fernet.generate_key().decode()).read()


def test_writing_replaces_a_planted_link_instead_of_following_it(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("untouched")
    data = tmp_path / "data"
    data.mkdir()
    (data / STORE_FILE).symlink_to(target)
    SecretsStore(data).write({"APP_ID": "7"})
    assert target.read_text() == "untouched"
    assert not (data / STORE_FILE).is_symlink()
    assert SecretsStore(data).read() == {"APP_ID": "7"}


def test_rotate_key_re_encrypts_with_a_new_key(tmp_path: Path) -> None:
    store = SecretsStore(tmp_path)
    store.write({"WEBHOOK_SECRET": "w"})
    old = (tmp_path / KEY_FILE).read_bytes()
    where = rotate_key(tmp_path)
    assert where == key_path(tmp_path)
    assert (tmp_path / KEY_FILE).read_bytes() != old
    assert SecretsStore(tmp_path).read() == {"WEBHOOK_SECRET": "w"}
    with pytest.raises(SecretsError):
        SecretsStore(tmp_path, old.decode()).read()


def test_rotate_key_to_a_chosen_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    SecretsStore(data).write({"APP_ID": "9"})
    new_file = tmp_path / "new.key"
    env = {"FIXWRIGHT_STATE_DIR": str(data), "FIXWRIGHT_STORE_URL": "sqlite:///:memory:"}
    with environment(env):
        assert main(["secrets", "rotate-key", "--new-key-file", str(new_file)]) == 0
    assert str(new_file) in capsys.readouterr().out
    assert mode_of(new_file) == 0o600
    assert not (data / KEY_FILE).exists()
    assert SecretsStore(data, new_file.read_text()).read() == {"APP_ID": "9"}


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# Loading: the environment wins, set-up mode only when nothing is configured.


def test_stored_values_fill_only_what_the_environment_leaves_empty(tmp_path: Path) -> None:
    SecretsStore(tmp_path).write(
        {"APP_ID": "111", "PRIVATE_KEY": PEM, "WEBHOOK_SECRET": "stored-hook"}
    )
    settings = load_settings(
        {"FIXWRIGHT_STATE_DIR": str(tmp_path), "FIXWRIGHT_APP_ID": "222"}, dotenv=None
    )
    assert settings.app_id == "222"
    assert settings.private_key == PEM
    assert settings.webhook_secrets == ("stored-hook",)
    assert settings.value_sources == {
        "APP_ID": "env",
        "PRIVATE_KEY": "stored",
        "WEBHOOK_SECRET": "stored",
    }


def test_a_key_path_in_the_environment_wins_over_a_stored_key(tmp_path: Path) -> None:
    SecretsStore(tmp_path).write({"APP_ID": "1", "PRIVATE_KEY": "stored", "WEBHOOK_SECRET": "w"})
    pem = tmp_path / "app.pem"
    pem.write_text(PEM)
    settings = load_settings(
        {"FIXWRIGHT_STATE_DIR": str(tmp_path), "FIXWRIGHT_PRIVATE_KEY_PATH": str(pem)},
        dotenv=None,
    )
    assert settings.private_key == PEM


def test_without_credentials_serve_starts_in_setup_mode_but_a_partial_app_is_refused(
    tmp_path: Path,
) -> None:
    env = {"FIXWRIGHT_STATE_DIR": str(tmp_path)}
    assert load_settings(env, dotenv=None, setup_allowed=True).needs_setup()
    with pytest.raises(ConfigError, match="FIXWRIGHT_APP_ID is not set"):
        load_settings(env, dotenv=None)
    with pytest.raises(ConfigError, match="FIXWRIGHT_WEBHOOK_SECRET is not set"):
        load_settings({**env, "FIXWRIGHT_APP_ID": "5"}, dotenv=None, setup_allowed=True)


def test_an_undecryptable_store_is_a_configuration_problem(tmp_path: Path) -> None:
    SecretsStore(tmp_path).write({"APP_ID": "1"})
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(ConfigError, match="no key is set"):
        load_settings({"FIXWRIGHT_STATE_DIR": str(tmp_path)}, dotenv=None, setup_allowed=True)


# The flow, served, against the fake GitHub.


def unregistered(fake_github: FakeGitHub, tmp_path: Path) -> Settings:
    return replace(
        fake_github.settings(),
        webhook_secrets=(),
        app_id="",
        private_key="",
        store_url=f"sqlite:///{tmp_path / 'fixwright.db'}",
        state_dir=str(tmp_path / "data"),
        workers=0,
        reconcile_interval_seconds=0,
    )


@dataclass
class SetupForm:
    action: str
    manifest: dict[str, Any]


def setup_form(url: str, query: str = "") -> SetupForm:
    page = httpx.get(f"{url}/setup{query}")
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    manifest = re.search(r'name="manifest" value="([^"]+)"', page.text)
    assert action and manifest
    return SetupForm(html.unescape(action[1]), json.loads(html.unescape(manifest[1])))


def submit(form: SetupForm) -> str:
    """What the browser does: post the manifest to GitHub; the callback URL it is sent to."""
    answer = httpx.post(form.action, data={"manifest": json.dumps(form.manifest)})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_registering_by_manifest_stores_the_app_and_switches_to_normal_mode(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    settings = unregistered(fake_github, tmp_path)
    app = create_app(settings, Registry([]))
    with served(app) as url:
        refused = httpx.post(url + "/webhooks/github", content=b"{}")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "setup_required"
        health = httpx.get(url + "/health")  # alive, so a health check keeps the page reachable
        assert (health.status_code, health.json()["status"]) == (200, "setup_required")
        assert httpx.get(url + "/metrics").status_code == 503
        assert httpx.get(url + "/setup/status").json()["mode"] == "setup"
        assert not hasattr(app.state, "service")  # no store, no workers, no intake yet

        home = httpx.get(url + "/")
        assert home.status_code == 200
        csp = home.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script" not in csp
        assert "<script" not in home.text
        form = setup_form(url)
        assert form.action.startswith(f"{fake_github.web_root}/settings/apps/new?state=")
        assert form.manifest["hook_attributes"]["url"] == url + "/webhooks/github"
        assert form.manifest["redirect_url"] == url + "/setup/callback"
        assert form.manifest["default_permissions"]["contents"] == "write"
        callback = submit(form)
        assert callback.startswith(url + "/setup/callback?code=")

        done = httpx.get(callback)
        assert done.status_code == 200, done.text
        slug = fake_github.state.app_slug
        install = f"{fake_github.web_root}/apps/{slug}/installations/new"
        assert f'href="{install}"' in done.text

        assert app.state.service.settings.app_id == str(fake_github.state.app_id)
        status = httpx.get(url + "/setup/status")
        assert status.json() == {
            "mode": "normal",
            "setup_open": False,
            "app_id": str(fake_github.state.app_id),
            "app_slug": slug,
            "secrets": {
                "webhook_secret": "stored",
                "private_key": "stored",
                "client_secret": "stored",
                "anthropic_api_key": None,
            },
        }
        stored = SecretsStore(settings.state_dir).read()
        for secret in ("WEBHOOK_SECRET", "PRIVATE_KEY", "CLIENT_SECRET"):
            assert stored[secret] not in status.text
        # normal mode: the intake checks deliveries with the stored webhook secret
        body = json.dumps({"zen": "hello", "hook_id": 1}).encode()
        headers = {
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        delivered = httpx.post(
            url + "/webhooks/github",
            content=body,
            headers={
                **headers,
                "X-Hub-Signature-256": sign(body, fake_github.state.webhook_secret),
            },
        )
        assert delivered.status_code < 300, delivered.text
        forged = httpx.post(
            url + "/webhooks/github",
            content=body,
            headers={**headers, "X-Hub-Signature-256": sign(body, "not-the-secret")},
        )
        assert forged.status_code == 401
        assert "setup_required" not in httpx.get(url + "/health").text

        # closed: the page 404s, any callback (even a fresh one) is refused
        assert httpx.get(url + "/setup").status_code == 404
        assert httpx.get(url + "/").status_code == 404
        again = httpx.get(callback)
        assert again.status_code == 409
        assert "already set up" in again.text


def test_a_forged_or_replayed_callback_is_refused(fake_github: FakeGitHub, tmp_path: Path) -> None:
    app = create_app(unregistered(fake_github, tmp_path), Registry([]))
    with served(app) as url:
        forged = httpx.get(url + "/setup/callback", params={"code": "abc", "state": "x" * 43})
        assert forged.status_code == 400
        assert "not one this service gave" in forged.text
        assert httpx.get(url + "/setup/callback").status_code == 400

        state = setup_form(url).action.split("state=")[1]
        wrong_code = httpx.get(url + "/setup/callback", params={"code": "nope", "state": state})
        assert wrong_code.status_code == 502
        assert "did not accept the code" in wrong_code.text
        replayed = httpx.get(url + "/setup/callback", params={"code": "nope", "state": state})
        assert replayed.status_code == 400
        assert "used already" in replayed.text
        assert httpx.get(url + "/setup/status").json()["mode"] == "setup"


def test_the_organisation_form_and_a_hostile_name(fake_github: FakeGitHub, tmp_path: Path) -> None:
    app = create_app(unregistered(fake_github, tmp_path), Registry([]))
    with served(app) as url:
        form = setup_form(url, "?org=octo-org")
        assert form.action.startswith(
            f"{fake_github.web_root}/organizations/octo-org/settings/apps/new?state="
        )
        hostile = httpx.get(url + "/setup", params={"org": '"><script>alert(1)</script>'})
        assert hostile.status_code == 400
        assert "<script>" not in hostile.text
        callback = submit(form)
        assert httpx.get(callback).status_code == 200
        assert fake_github.state.manifests[-1]["organization"] == "octo-org"


def admin_and_reader_keys(settings: Settings, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Two API keys made with `fixwright keys create`: one with `admin`, one without."""
    made = []
    with environment({"FIXWRIGHT_STORE_URL": settings.store_url}):
        for scope in ("admin", "tasks:read"):
            assert main(["keys", "create", "--name", scope, "--scope", scope]) == 0
            found = re.search(r"^key: +(fw_\S+)$", capsys.readouterr().out, re.MULTILINE)
            assert found
            made.append(found[1])
    return made


def test_the_model_key_is_stored_and_never_shown(
    fake_github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = unregistered(fake_github, tmp_path)
    app = create_app(settings, Registry([]))
    with served(app) as url:
        bad = httpx.post(url + "/setup/model-key", json={"key": "two words"})
        assert bad.status_code == 400
        assert httpx.post(url + "/setup/model-key", json={}).status_code == 400
        first = httpx.post(url + "/setup/model-key", json={"key": "sk-ant-first"})
        assert (first.json()["used"], first.json()["restart_required"]) == ("now", False)
        stored = httpx.post(url + "/setup/model-key", data={"key": "sk-ant-test-model-key"})
        assert stored.status_code == 200, stored.text
        assert "sk-ant" not in stored.text
        status = httpx.get(url + "/setup/status")
        assert status.json()["secrets"]["anthropic_api_key"] == "stored"
        assert "sk-ant" not in status.text
        assert httpx.get(submit(setup_form(url))).status_code == 200
        # the second key given in set-up mode is the one the service started with
        assert app.state.service.settings.anthropic_api_key == "sk-ant-test-model-key"
        # in normal mode the model key needs an admin API key
        assert httpx.post(url + "/setup/model-key", json={"key": "k2"}).status_code == 401
        admin, reader = admin_and_reader_keys(settings, capsys)
        refused = httpx.post(
            url + "/setup/model-key",
            json={"key": "k2"},
            headers={"Authorization": f"Bearer {reader}"},
        )
        assert refused.status_code == 403
        assert (
            SecretsStore(settings.state_dir).read()["ANTHROPIC_API_KEY"] == "sk-ant-test-model-key"
        )
        replaced = httpx.post(
            url + "/setup/model-key",
            json={"key": "sk-ant-second"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["used"] == "after the next restart"
        assert replaced.json()["restart_required"] is True
        assert app.state.service.settings.anthropic_api_key == "sk-ant-test-model-key"
    assert SecretsStore(settings.state_dir).read()["ANTHROPIC_API_KEY"] == "sk-ant-second"


def test_reopen_serves_the_page_again_on_a_configured_service(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    settings = replace(unregistered(fake_github, tmp_path), **_registered(fake_github))
    data = Path(settings.state_dir)
    app = create_app(settings, Registry([]))
    with served(app) as url:
        assert httpx.get(url + "/setup").status_code == 404
        env = {"FIXWRIGHT_STATE_DIR": str(data), "FIXWRIGHT_STORE_URL": "sqlite:///:memory:"}
        with environment(env):
            assert main(["setup", "reopen"]) == 0
        assert SecretsStore(data).read()[REOPENED] == "1"
        callback = submit(setup_form(url))
        done = httpx.get(callback)
        assert done.status_code == 200
        assert "Restart the service to apply" in done.text
        assert REOPENED not in SecretsStore(data).read()
        assert httpx.get(url + "/setup").status_code == 404


def _registered(fake_github: FakeGitHub) -> dict[str, Any]:
    return {
        "webhook_secrets": ("w",),
        "app_id": str(fake_github.app_id),
        "private_key": fake_github.private_key,
        "app_slug": "fixwright",
    }


def test_a_model_key_the_environment_sets_is_stored_but_said_to_be_unused(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    settings = replace(
        unregistered(fake_github, tmp_path),
        anthropic_api_key="sk-ant-from-env",
        value_sources={"ANTHROPIC_API_KEY": "env"},
    )
    app = create_app(settings, Registry([]))
    with served(app) as url:
        answer = httpx.post(url + "/setup/model-key", json={"key": "sk-ant-stored"})
        assert answer.json() == {
            "stored": True,
            "used": "never while FIXWRIGHT_ANTHROPIC_API_KEY is set in the environment",
            "restart_required": False,
            "overridden_by_env": True,
        }
        assert httpx.get(submit(setup_form(url))).status_code == 200
        assert app.state.service.settings.anthropic_api_key == "sk-ant-from-env"


def test_an_app_registered_after_reopen_says_which_variables_keep_it_unused(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """The environment names the App the service runs with: the new one is stored, and the page
    says which variables to remove before the restart that applies it."""
    sources = {"APP_ID": "env", "PRIVATE_KEY": "env", "WEBHOOK_SECRET": "env"}
    settings = replace(
        unregistered(fake_github, tmp_path), **_registered(fake_github), value_sources=sources
    )
    SecretsStore(settings.state_dir).update({REOPENED: "1"})
    with served(create_app(settings, Registry([]))) as url:
        done = httpx.get(submit(setup_form(url)))
        assert done.status_code == 200
        for variable in (
            "FIXWRIGHT_APP_ID",
            "FIXWRIGHT_PRIVATE_KEY or FIXWRIGHT_PRIVATE_KEY_PATH",
            "FIXWRIGHT_WEBHOOK_SECRET",
        ):
            assert f"<code>{variable}</code>" in done.text
        assert "Remove them, then restart the service" in done.text
    assert SecretsStore(settings.state_dir).read()["APP_ID"] == str(fake_github.state.app_id)
