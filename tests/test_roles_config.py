"""What each role needs: a worker node takes no deliveries, so it needs no webhook secret, but it
needs the App's credentials from the start and at least one worker."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
CREDENTIALS = {"FIXWRIGHT_APP_ID": "12345", "FIXWRIGHT_PRIVATE_KEY": KEY}


def test_the_role_defaults_to_all_and_is_one_of_three() -> None:
    assert load_settings({**CREDENTIALS, "FIXWRIGHT_WEBHOOK_SECRET": "s"}, None).role == "all"
    with pytest.raises(ConfigError) as raised:
        load_settings(
            {**CREDENTIALS, "FIXWRIGHT_WEBHOOK_SECRET": "s", "FIXWRIGHT_ROLE": "db"}, None
        )
    assert raised.value.problems == ["FIXWRIGHT_ROLE must be one of all, web, worker, got 'db'."]


def test_a_worker_node_needs_no_webhook_secret_and_is_not_in_set_up_mode() -> None:
    settings = load_settings({**CREDENTIALS, "FIXWRIGHT_ROLE": "worker"}, None, setup_allowed=True)
    assert settings.role == "worker"
    assert settings.webhook_secrets == ()
    assert not settings.needs_setup()


@pytest.mark.parametrize("role", ["web", "all"])
def test_a_node_that_takes_deliveries_needs_the_webhook_secret(role: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**CREDENTIALS, "FIXWRIGHT_ROLE": role}, None)
    [problem] = raised.value.problems
    assert problem.startswith("FIXWRIGHT_WEBHOOK_SECRET is not set")


def test_a_worker_node_without_the_apps_credentials_says_so_instead_of_waiting_for_set_up() -> None:
    """Set-up happens on a node that serves pages; a worker without credentials could run nothing."""
    with pytest.raises(ConfigError) as raised:
        load_settings({"FIXWRIGHT_ROLE": "worker"}, None, setup_allowed=True)
    text = str(raised.value)
    assert "FIXWRIGHT_APP_ID is not set" in text
    assert "FIXWRIGHT_PRIVATE_KEY_PATH is not set" in text
    assert "WEBHOOK_SECRET" not in text


def test_a_worker_node_with_no_workers_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**CREDENTIALS, "FIXWRIGHT_ROLE": "worker", "FIXWRIGHT_WORKERS": "0"}, None)
    [problem] = raised.value.problems
    assert "FIXWRIGHT_ROLE=worker" in problem and "FIXWRIGHT_WORKERS is 0" in problem
