"""Configuration: read once, every problem reported at once, each naming its variable."""

from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load_settings
from app.quota import QuotaLimits, limits_from

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"


def minimal(**extra: str) -> dict[str, str]:
    return {
        "FIXWRIGHT_WEBHOOK_SECRET": "s3cret",
        "FIXWRIGHT_APP_ID": "12345",
        "FIXWRIGHT_PRIVATE_KEY": KEY,
        **extra,
    }


def test_defaults_point_at_github_com_and_the_embedded_store() -> None:
    """With only the credentials set, the defaults are github.com, SQLite under ./data, label fixwright."""
    settings = load_settings(minimal(), dotenv=None)
    assert settings.github_api_url == "https://api.github.com"
    assert settings.github_web_url == "https://github.com"
    assert settings.store_url == "sqlite:///data/fixwright.db"
    assert settings.trigger_label == "fixwright"
    assert settings.webhook_secrets == ("s3cret",)


def test_all_problems_are_reported_at_once_naming_each_variable() -> None:
    """An empty environment lists the secret, the App id and the key, each with a fix."""
    with pytest.raises(ConfigError) as raised:
        load_settings({"FIXWRIGHT_WORKERS": "many", "FIXWRIGHT_LOG_FORMAT": "xml"}, dotenv=None)
    text = str(raised.value)
    for name in ("WEBHOOK_SECRET", "APP_ID", "PRIVATE_KEY_PATH", "WORKERS", "LOG_FORMAT"):
        assert f"FIXWRIGHT_{name}" in text
    assert len(raised.value.problems) == 5


def test_previous_secret_is_accepted_alongside_the_current_one() -> None:
    """Rotation: the previous secret stays valid until it is removed."""
    settings = load_settings(minimal(FIXWRIGHT_WEBHOOK_SECRET_PREVIOUS="old"), dotenv=None)
    assert settings.webhook_secrets == ("s3cret", "old")


def test_enterprise_server_urls_and_key_file(tmp_path: Path) -> None:
    """GitHub Enterprise Server is configured by URL; the key may come from a file."""
    key_file = tmp_path / "app.pem"
    key_file.write_text(KEY)
    env = minimal(
        FIXWRIGHT_GITHUB_API_URL="https://ghe.example.com/api/v3/",
        FIXWRIGHT_GITHUB_WEB_URL="https://ghe.example.com",
        FIXWRIGHT_PRIVATE_KEY_PATH=str(key_file),
    )
    del env["FIXWRIGHT_PRIVATE_KEY"]
    settings = load_settings(env, dotenv=None)
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert settings.private_key == KEY


def test_unreadable_key_file_and_non_pem_key_are_explained(tmp_path: Path) -> None:
    """A missing key file and a value that is not a PEM key both name the variable."""
    env = minimal(FIXWRIGHT_PRIVATE_KEY_PATH=str(tmp_path / "missing.pem"))
    del env["FIXWRIGHT_PRIVATE_KEY"]
    with pytest.raises(ConfigError, match=r"FIXWRIGHT_PRIVATE_KEY_PATH=.*cannot be read"):
        load_settings(env, dotenv=None)
    with pytest.raises(ConfigError, match="FIXWRIGHT_PRIVATE_KEY does not hold a PEM"):
        load_settings(minimal(FIXWRIGHT_PRIVATE_KEY="not a key"), dotenv=None)


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    """Values come from .env unless the environment sets them too."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# fixwright\nFIXWRIGHT_TRIGGER_LABEL=autofix\nexport FIXWRIGHT_WORKERS='4'\n"
        'FIXWRIGHT_PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\\nMIIB\\n-----END RSA PRIVATE KEY-----"\n'
    )
    env = minimal(FIXWRIGHT_WORKERS="3")
    del env["FIXWRIGHT_PRIVATE_KEY"]
    settings = load_settings(env, dotenv=dotenv)
    assert settings.trigger_label == "autofix"
    assert settings.workers == 3
    assert settings.private_key == KEY


def test_settings_are_frozen_and_hide_secrets_from_repr() -> None:
    """Nothing changes settings after start, and printing them shows no secret."""
    settings = load_settings(minimal(FIXWRIGHT_ANTHROPIC_API_KEY="sk-ant-test"), dotenv=None)
    with pytest.raises(AttributeError):
        settings.workers = 9  # type: ignore[misc]
    assert "sk-ant-test" not in repr(settings)
    assert "BEGIN RSA" not in repr(settings)
    assert "s3cret" not in repr(settings)


def test_commands_that_never_call_github_need_no_github_credentials() -> None:
    """`fixwright run` works without a webhook secret or App key, and ignores them when present."""
    settings = load_settings(
        {"FIXWRIGHT_WEBHOOK_SECRET": "s", "FIXWRIGHT_MAX_TURNS": "5"}, dotenv=None, for_github=False
    )
    assert settings.webhook_secrets == ()
    assert settings.max_turns == 5
    with pytest.raises(ConfigError, match="FIXWRIGHT_MAX_TURNS"):
        load_settings({"FIXWRIGHT_MAX_TURNS": "0"}, dotenv=None, for_github=False)


def test_the_store_syncs_for_a_crash_by_default_and_for_a_power_cut_on_request() -> None:
    """normal by default; full when asked; anything else is refused naming the variable."""
    assert load_settings(minimal(), dotenv=None).store_sync == "normal"
    full = load_settings(minimal(FIXWRIGHT_STORE_SYNC="FULL"), dotenv=None)
    assert full.store_sync == "full"
    with pytest.raises(ConfigError) as raised:
        load_settings(minimal(FIXWRIGHT_STORE_SYNC="off"), dotenv=None)
    assert "FIXWRIGHT_STORE_SYNC must be one of normal, full" in str(raised.value)


def test_the_relays_limits_are_read_and_checked() -> None:
    """The relay's caps and extra models come from FIXWRIGHT_RELAY_*; a bad one names itself."""
    settings = load_settings(
        minimal(
            FIXWRIGHT_RELAY_MAX_TOKENS="16000",
            FIXWRIGHT_RELAY_MAX_IN_FLIGHT="3",
            FIXWRIGHT_RELAY_MAX_BODY_BYTES="1048576",
            FIXWRIGHT_RELAY_MODELS=" claude-haiku-4-5, ,claude-sonnet-4-5 ",
        ),
        dotenv=None,
    )
    assert (settings.relay_max_tokens, settings.relay_max_in_flight) == (16000, 3)
    assert settings.relay_max_body_bytes == 1048576
    assert settings.relay_models == ("claude-haiku-4-5", "claude-sonnet-4-5")
    with pytest.raises(ConfigError) as raised:
        load_settings(
            minimal(FIXWRIGHT_RELAY_MAX_TOKENS="0", FIXWRIGHT_RELAY_MAX_IN_FLIGHT="many"),
            dotenv=None,
        )
    assert "FIXWRIGHT_RELAY_MAX_TOKENS must be at least 1" in str(raised.value)
    assert "FIXWRIGHT_RELAY_MAX_IN_FLIGHT must be a int" in str(raised.value)


@pytest.mark.parametrize(
    ("written", "read"),
    [("512m", "512m"), ("2G", "2g"), ("1073741824", "1073741824"), ("65536K", "65536k")],
)
def test_the_sandbox_memory_takes_the_sizes_docker_takes(written: str, read: str) -> None:
    """A byte count or a number with b, k, m or g, in any case, is kept in Docker's form."""
    settings = load_settings(minimal(FIXWRIGHT_SANDBOX_MEMORY=written), dotenv=None)
    assert settings.sandbox_memory == read


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("lots", "must be a memory size such as 512m"),
        ("1.5g", "must be a memory size"),
        ("-1g", "must be a memory size"),
        ("2 g", "must be a memory size"),
        ("32m", "must be at least 64m"),
        ("1000000", "must be at least 64m"),
    ],
)
def test_a_sandbox_memory_docker_would_refuse_or_starve_on_stops_the_start(
    written: str, problem: str
) -> None:
    """A size Docker cannot read, or under 64 MiB, is one problem naming the variable."""
    with pytest.raises(ConfigError) as raised:
        load_settings(minimal(FIXWRIGHT_SANDBOX_MEMORY=written), dotenv=None)
    [only] = raised.value.problems
    assert only.startswith(f"FIXWRIGHT_SANDBOX_MEMORY {problem}")
    assert f"got {written!r}" in only


def test_a_duration_that_is_not_a_number_is_refused() -> None:
    """`nan` and `inf` read as floats but are no length of time: each is a problem of its own."""
    with pytest.raises(ConfigError) as raised:
        load_settings(
            minimal(FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS="nan", FIXWRIGHT_JOB_LEASE_SECONDS="inf"),
            dotenv=None,
        )
    assert raised.value.problems == [
        "FIXWRIGHT_JOB_LEASE_SECONDS must be a float (e.g. 60.0), got 'inf'.",
        "FIXWRIGHT_SANDBOX_TIMEOUT_SECONDS must be a float (e.g. 1800.0), got 'nan'.",
    ]


def test_each_bad_variable_is_one_problem_and_all_are_reported_together() -> None:
    """Bad values of every kind at once give one line each, in declaration order."""
    with pytest.raises(ConfigError) as raised:
        load_settings(
            minimal(
                FIXWRIGHT_APP_ID="app",
                FIXWRIGHT_GITHUB_API_URL="ftp://x",
                FIXWRIGHT_BRANCH_PREFIX="fix",
                FIXWRIGHT_STORE_URL="mysql://db",
                FIXWRIGHT_PORT="-1",
                FIXWRIGHT_SANDBOX_MEMORY="huge",
                FIXWRIGHT_RETENTION_DAYS="2",
                FIXWRIGHT_QUOTA_INSTALLATIONS="[]",
                FIXWRIGHT_METRICS_PUBLIC="maybe",
            ),
            dotenv=None,
        )
    named = [problem.split(" ", 1)[0] for problem in raised.value.problems]
    assert named == [
        "FIXWRIGHT_APP_ID",
        "FIXWRIGHT_GITHUB_API_URL",
        "FIXWRIGHT_BRANCH_PREFIX",
        "FIXWRIGHT_STORE_URL",
        "FIXWRIGHT_PORT",
        "FIXWRIGHT_SANDBOX_MEMORY",
        "FIXWRIGHT_RETENTION_DAYS",
        "FIXWRIGHT_QUOTA_INSTALLATIONS",
        "FIXWRIGHT_METRICS_PUBLIC",
    ]


def test_the_quota_limits_default_to_the_settings_defaults() -> None:
    """QuotaLimits() and the limits built from default settings are the same: declared once."""
    assert QuotaLimits() == limits_from(Settings(), None)
