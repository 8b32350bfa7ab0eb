"""The operator's routes (/metrics, /metrics/prometheus, /quota) are never open beyond this machine
by accident: a non-loopback address needs the metrics token, or the operator's explicit opt-out."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from app.config import ConfigError, load_settings
from tests.fixtures.service import ServiceProcess
from tests.test_cli import clean_environment, run_fixwright
from tests.test_config import minimal
from tests.test_prometheus_scrape import running_prometheus

OPERATOR_ROUTES = ("/metrics", "/metrics/prometheus", "/quota")
TOKEN = "operator-token-for-tests-0123456789"
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (what the service image listens on, as tested here)


@pytest.mark.parametrize("host", [ALL_INTERFACES, "::", "192.0.2.7", "fixwright.internal"])
def test_a_non_loopback_address_without_a_token_is_refused_naming_both_ways_out(
    host: str,
) -> None:
    """Listening beyond loopback with open operator routes is a configuration error."""
    with pytest.raises(ConfigError) as raised:
        load_settings(minimal(FIXWRIGHT_HOST=host), dotenv=None)
    [problem] = raised.value.problems
    assert f"FIXWRIGHT_HOST={host}" in problem
    assert "FIXWRIGHT_METRICS_TOKEN" in problem and "FIXWRIGHT_METRICS_PUBLIC=true" in problem


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_a_loopback_address_needs_no_token(host: str) -> None:
    """Only this machine can reach a loopback address: the routes may stay open there."""
    settings = load_settings(minimal(FIXWRIGHT_HOST=host), dotenv=None)
    assert settings.host == host and not settings.metrics_token and not settings.metrics_public


def test_a_token_or_the_explicit_opt_out_allows_a_non_loopback_address() -> None:
    """With the token the routes are closed; with METRICS_PUBLIC=true they are open on purpose."""
    closed = load_settings(
        minimal(FIXWRIGHT_HOST=ALL_INTERFACES, FIXWRIGHT_METRICS_TOKEN=TOKEN), dotenv=None
    )
    assert closed.metrics_token == TOKEN and not closed.metrics_public
    public = load_settings(
        minimal(FIXWRIGHT_HOST=ALL_INTERFACES, FIXWRIGHT_METRICS_PUBLIC="true"), dotenv=None
    )
    assert public.metrics_public


def test_the_opt_out_must_be_a_yes_or_no() -> None:
    """A misspelt METRICS_PUBLIC is its own problem, beside the open routes it failed to allow."""
    with pytest.raises(ConfigError) as raised:
        load_settings(
            minimal(FIXWRIGHT_HOST=ALL_INTERFACES, FIXWRIGHT_METRICS_PUBLIC="sure"), dotenv=None
        )
    first, second = raised.value.problems
    assert first == "FIXWRIGHT_METRICS_PUBLIC must be true or false, got 'sure'."
    assert "FIXWRIGHT_METRICS_TOKEN" in second


def test_serve_on_a_non_loopback_host_option_without_a_token_does_not_start(
    tmp_path: Path,
) -> None:
    """`fixwright serve --host 0.0.0.0` is checked as FIXWRIGHT_HOST is: exit 2, both variables named."""
    env = {**clean_environment(), **minimal()}
    result = run_fixwright("serve", "--host", ALL_INTERFACES, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1
    assert "FIXWRIGHT_METRICS_TOKEN" in problems[0] and "FIXWRIGHT_METRICS_PUBLIC" in problems[0]


def test_a_service_on_all_interfaces_answers_401_without_the_token(
    service_process: ServiceProcess,
) -> None:
    """Served on 0.0.0.0 with the token set: each operator route refuses an anonymous caller with
    a JSON error, and answers the token."""
    service = service_process.start(FIXWRIGHT_HOST=ALL_INTERFACES, FIXWRIGHT_METRICS_TOKEN=TOKEN)
    for path in OPERATOR_ROUTES:
        refused = httpx.get(service.url + path, timeout=10)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
        allowed = httpx.get(
            service.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert allowed.status_code == 200, path


def test_a_service_made_public_on_purpose_answers_without_a_token(
    service_process: ServiceProcess,
) -> None:
    """FIXWRIGHT_METRICS_PUBLIC=true on 0.0.0.0: the operator routes answer anyone."""
    service = service_process.start(FIXWRIGHT_HOST=ALL_INTERFACES, FIXWRIGHT_METRICS_PUBLIC="true")
    for path in OPERATOR_ROUTES:
        assert httpx.get(service.url + path, timeout=10).status_code == 200, path


def test_the_deploy_scrape_config_reads_a_token_guarded_service(
    service_process: ServiceProcess, tmp_path: Path
) -> None:
    """deploy/prometheus.yml's job, with the token in its file, scrapes a service on 0.0.0.0."""
    service = service_process.start(FIXWRIGHT_HOST=ALL_INTERFACES, FIXWRIGHT_METRICS_TOKEN=TOKEN)
    [scrape] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN + "\n")  # as `openssl rand -hex 32 > file` writes it
    scrape["authorization"]["credentials_file"] = str(token_file)
    scrape["static_configs"] = [{"targets": [service.url.removeprefix("http://")]}]
    with running_prometheus(scrape, tmp_path) as prometheus:
        assert prometheus.value('up{job="fixwright"}') == 1.0
        assert prometheus.value("fixwright_queue_depth") == 0.0
