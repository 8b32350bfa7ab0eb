"""The service's settings: read once from FIXWRIGHT_* variables (and .env), validated all at once."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.quota_prices import DEFAULT_PRICES, Price, parse_prices

PREFIX = "FIXWRIGHT_"
LOG_FORMATS = ("auto", "json", "console")
# How SQLite syncs commits (see app/store/sqlite.py): normal survives a crashed process, full a power cut.
STORE_SYNC_MODES = ("normal", "full")
SANDBOX_RUNTIMES = ("runc", "runsc")
# GitHub's repository roles, weakest first.
PERMISSION_LEVELS = ("read", "triage", "write", "maintain", "admin")
# The limits a quota override may name (see app.quota.QuotaLimits).
QUOTA_LIMIT_NAMES = (
    "concurrent_jobs",
    "jobs_per_user_per_hour",
    "tokens_per_day",
    "cost_per_day_usd",
    "tokens_per_job",
    "cost_per_job_usd",
)
# Read only by commands that talk to GitHub (`serve`, `jobs`).
GITHUB_ONLY = (
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_PREVIOUS",
    "APP_ID",
    "PRIVATE_KEY",
    "PRIVATE_KEY_PATH",
)


class ConfigError(Exception):
    """Every problem found in the configuration, each naming the variable and the fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to know, fixed for the life of the process."""

    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    app_id: str = ""
    private_key: str = field(default="", repr=False)
    github_api_url: str = "https://api.github.com"
    github_web_url: str = "https://github.com"
    trigger_label: str = "fixwright"
    trigger_permission: str = "write"
    github_max_wait_seconds: float = 300.0
    github_secondary_limit_wait_seconds: float = 60.0
    reconcile_interval_seconds: float = 600.0
    # Spacing of one installation's writes, and of those that create comments, PRs and issues.
    github_write_interval_seconds: float = 1.0
    github_content_interval_seconds: float = 3.0
    shutdown_grace_seconds: float = 30.0
    review_bash_commands: tuple[str, ...] = ()
    # Set per job from the repository's .github/fixwright.yml (see app/repo_config.py), not from
    # the environment: limits that may only lower the operator's, and draft or ready PRs.
    repo_limits: Mapping[str, float] = field(default_factory=dict)
    draft_pull_requests: bool = True
    store_url: str = "sqlite:///data/fixwright.db"
    store_sync: str = "normal"
    workers: int = 2
    log_format: str = "auto"
    log_level: str = "info"
    host: str = "127.0.0.1"
    port: int = 8000
    job_lease_seconds: float = 60.0
    job_max_attempts: int = 2
    poll_interval_seconds: float = 1.0
    anthropic_api_key: str = field(default="", repr=False)
    model_upstream_url: str = "https://api.anthropic.com"
    model: str = ""
    max_turns: int = 30
    sandbox_image: str = "fixwright-sandbox:latest"
    sandbox_runtime: str = "runc"
    sandbox_memory: str = "2g"
    sandbox_cpus: float = 1.0
    sandbox_pids: int = 512
    sandbox_timeout_seconds: float = 1800.0
    job_token_budget: int = 2_000_000
    state_dir: str = "data"
    # Quotas per installation (0: no limit); tokens per job is `job_token_budget`.
    quota_concurrent_jobs: int = 2
    quota_jobs_per_user_per_hour: int = 10
    quota_tokens_per_day: int = 20_000_000
    quota_cost_per_day_usd: float = 50.0
    quota_cost_per_job_usd: float = 10.0
    # {installation id: {limit name: value}}, replacing the limits above for that installation.
    quota_installations: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    # US dollars per million tokens by model family, for runs whose cost the CLI did not report.
    model_prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    # When set, /metrics, /metrics/prometheus and /quota need `Authorization: Bearer <token>`.
    metrics_token: str = field(default="", repr=False)

    def instance_id(self) -> str:
        """Names this deployment (its store) on a shared Docker engine, so it only cleans up its own."""
        store = self.store_url
        if store.startswith("sqlite:///"):
            store = str(Path(store.removeprefix("sqlite:///")).resolve())
        return hashlib.sha256(store.encode()).hexdigest()[:16]

    def named_secrets(self) -> dict[str, str]:
        """The configured secrets by the variable that holds them (for saying which one leaked)."""
        named = {
            PREFIX + "WEBHOOK_SECRET": self.webhook_secrets[0] if self.webhook_secrets else "",
            PREFIX + "WEBHOOK_SECRET_PREVIOUS": "".join(self.webhook_secrets[1:2]),
            PREFIX + "PRIVATE_KEY": self.private_key,
            PREFIX + "ANTHROPIC_API_KEY": self.anthropic_api_key,
            PREFIX + "METRICS_TOKEN": self.metrics_token,
        }
        return {name: value for name, value in named.items() if value}

    def secret_values(self) -> tuple[str, ...]:
        """The configured values that must never appear in a log, record or comment."""
        return tuple(
            s
            for s in (
                *self.webhook_secrets,
                self.private_key,
                self.anthropic_api_key,
                self.metrics_token,
            )
            if s
        )


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a .env file of KEY=VALUE lines; quotes are stripped and "\\n" in double quotes is a newline."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().removeprefix("export ")
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n")
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(
    environ: Mapping[str, str], dotenv: Path | None = Path(".env"), *, for_github: bool = True
) -> Settings:
    """Build Settings from the environment (which wins over .env); raise ConfigError listing all problems.

    `for_github=False` is for commands that never talk to GitHub (`fixwright run`, `sandbox build`):
    the webhook secret and the App's credentials are then neither required nor read.
    """
    env = {**(read_dotenv(dotenv) if dotenv else {}), **environ}
    if not for_github:
        env = {
            key: value for key, value in env.items() if key.removeprefix(PREFIX) not in GITHUB_ONLY
        }
    problems: list[str] = []
    reader = _Reader(env, problems)

    secrets = tuple(
        s for s in (reader.text("WEBHOOK_SECRET"), reader.text("WEBHOOK_SECRET_PREVIOUS")) if s
    )
    if for_github and not env.get(PREFIX + "WEBHOOK_SECRET"):
        problems.append(
            f"{PREFIX}WEBHOOK_SECRET is not set: the service never accepts unsigned webhooks. "
            "Set it to the webhook secret of your GitHub App (Settings > Developer settings > "
            "GitHub Apps > your app > Webhook secret)."
        )
    app_id = reader.text("APP_ID")
    if app_id and not app_id.isdigit():
        problems.append(
            f"{PREFIX}APP_ID must be the numeric App ID shown on the App's page, got {app_id!r}."
        )
    if for_github and not app_id:
        problems.append(
            f"{PREFIX}APP_ID is not set: set it to the numeric App ID shown on your GitHub App's page."
        )
    private_key = _private_key(env, problems) if for_github else ""

    values: dict[str, Any] = {
        "webhook_secrets": secrets,
        "app_id": app_id,
        "private_key": private_key,
        "github_api_url": reader.url("GITHUB_API_URL", Settings.github_api_url),
        "github_web_url": reader.url("GITHUB_WEB_URL", Settings.github_web_url),
        "trigger_label": reader.text("TRIGGER_LABEL") or Settings.trigger_label,
        "trigger_permission": reader.choice("TRIGGER_PERMISSION", PERMISSION_LEVELS, "write"),
        "github_max_wait_seconds": reader.number(
            "GITHUB_MAX_WAIT_SECONDS", float, 300.0, minimum=0
        ),
        "github_write_interval_seconds": reader.number(
            "GITHUB_WRITE_INTERVAL_SECONDS",
            float,
            Settings.github_write_interval_seconds,
            minimum=0,
        ),
        "github_content_interval_seconds": reader.number(
            "GITHUB_CONTENT_INTERVAL_SECONDS",
            float,
            Settings.github_content_interval_seconds,
            minimum=0,
        ),
        "github_secondary_limit_wait_seconds": reader.number(
            "GITHUB_SECONDARY_LIMIT_WAIT_SECONDS",
            float,
            Settings.github_secondary_limit_wait_seconds,
            minimum=0,
        ),
        "reconcile_interval_seconds": reader.number(
            "RECONCILE_INTERVAL_SECONDS", float, Settings.reconcile_interval_seconds, minimum=0
        ),
        "shutdown_grace_seconds": reader.number(
            "SHUTDOWN_GRACE_SECONDS", float, Settings.shutdown_grace_seconds, minimum=0
        ),
        "review_bash_commands": tuple(
            command.strip()
            for command in reader.text("REVIEW_BASH_COMMANDS").split(",")
            if command.strip()
        ),
        "store_url": reader.store_url("STORE_URL", Settings.store_url),
        "store_sync": reader.choice("STORE_SYNC", STORE_SYNC_MODES, Settings.store_sync),
        "workers": reader.number("WORKERS", int, Settings.workers, minimum=0),
        "log_format": reader.choice("LOG_FORMAT", LOG_FORMATS, Settings.log_format),
        "log_level": reader.choice(
            "LOG_LEVEL", ("debug", "info", "warning", "error"), Settings.log_level
        ),
        "host": reader.text("HOST") or Settings.host,
        "port": reader.number("PORT", int, Settings.port, minimum=0),
        "job_lease_seconds": reader.number("JOB_LEASE_SECONDS", float, 60.0, minimum=1),
        "job_max_attempts": reader.number("JOB_MAX_ATTEMPTS", int, 2, minimum=1),
        "poll_interval_seconds": reader.number("POLL_INTERVAL_SECONDS", float, 1.0, minimum=0.01),
        "anthropic_api_key": reader.text("ANTHROPIC_API_KEY"),
        "model_upstream_url": reader.url("MODEL_UPSTREAM_URL", Settings.model_upstream_url),
        "model": reader.text("MODEL"),
        "max_turns": reader.number("MAX_TURNS", int, Settings.max_turns, minimum=1),
        "sandbox_image": reader.text("SANDBOX_IMAGE") or Settings.sandbox_image,
        "sandbox_runtime": reader.choice("SANDBOX_RUNTIME", SANDBOX_RUNTIMES, "runc"),
        "sandbox_memory": reader.text("SANDBOX_MEMORY") or Settings.sandbox_memory,
        "sandbox_cpus": reader.number("SANDBOX_CPUS", float, Settings.sandbox_cpus, minimum=0.1),
        "sandbox_pids": reader.number("SANDBOX_PIDS", int, Settings.sandbox_pids, minimum=16),
        "sandbox_timeout_seconds": reader.number(
            "SANDBOX_TIMEOUT_SECONDS", float, Settings.sandbox_timeout_seconds, minimum=1
        ),
        "job_token_budget": reader.number(
            "JOB_TOKEN_BUDGET", int, Settings.job_token_budget, minimum=1
        ),
        "state_dir": reader.text("STATE_DIR") or Settings.state_dir,
        **_quota_values(reader),
    }
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


def _quota_values(reader: _Reader) -> dict[str, Any]:
    """The quota, price and metrics-token settings."""
    return {
        "quota_concurrent_jobs": reader.number(
            "QUOTA_CONCURRENT_JOBS", int, Settings.quota_concurrent_jobs, minimum=0
        ),
        "quota_jobs_per_user_per_hour": reader.number(
            "QUOTA_JOBS_PER_USER_PER_HOUR", int, Settings.quota_jobs_per_user_per_hour, minimum=0
        ),
        "quota_tokens_per_day": reader.number(
            "QUOTA_TOKENS_PER_DAY", int, Settings.quota_tokens_per_day, minimum=0
        ),
        "quota_cost_per_day_usd": reader.number(
            "QUOTA_COST_PER_DAY_USD", float, Settings.quota_cost_per_day_usd, minimum=0
        ),
        "quota_cost_per_job_usd": reader.number(
            "QUOTA_COST_PER_JOB_USD", float, Settings.quota_cost_per_job_usd, minimum=0
        ),
        "quota_installations": reader.parsed("QUOTA_INSTALLATIONS", parse_installation_quotas, {}),
        "model_prices": reader.parsed("MODEL_PRICES", parse_prices, dict(DEFAULT_PRICES)),
        "metrics_token": reader.text("METRICS_TOKEN"),
    }


def parse_installation_quotas(text: str) -> dict[int, dict[str, float]]:
    """`{"<installation id>": {"tokens_per_day": 1000000, ...}}`; raises ValueError naming the fault."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object keyed by installation id")
    quotas: dict[int, dict[str, float]] = {}
    for installation, limits in raw.items():
        if not str(installation).isdigit() or not isinstance(limits, dict):
            raise ValueError(f"{installation!r} must be an installation id mapped to limits")
        unknown = set(limits) - set(QUOTA_LIMIT_NAMES)
        if unknown:
            raise ValueError(
                f"unknown limits {sorted(unknown)}; known: {', '.join(QUOTA_LIMIT_NAMES)}"
            )
        quotas[int(installation)] = {name: float(value) for name, value in limits.items()}
    return quotas


def _private_key(env: Mapping[str, str], problems: list[str]) -> str:
    """The App's PEM private key, given as a value or as a path to a file."""
    value = env.get(PREFIX + "PRIVATE_KEY", "")
    path = env.get(PREFIX + "PRIVATE_KEY_PATH", "")
    if value and path:
        problems.append(
            f"{PREFIX}PRIVATE_KEY and {PREFIX}PRIVATE_KEY_PATH are both set: keep one of them."
        )
        return ""
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            problems.append(
                f"{PREFIX}PRIVATE_KEY_PATH={path} cannot be read ({error.strerror}): point it at the "
                ".pem file downloaded from your GitHub App's page."
            )
            return ""
    if not value:
        problems.append(
            f"{PREFIX}PRIVATE_KEY_PATH is not set: point it at the .pem private key downloaded from "
            f"your GitHub App's page (or put the key itself in {PREFIX}PRIVATE_KEY)."
        )
        return ""
    value = value.replace("\\n", "\n").strip() + "\n"
    if "PRIVATE KEY-----" not in value:
        name = PREFIX + ("PRIVATE_KEY_PATH" if path else "PRIVATE_KEY")
        problems.append(
            f"{name} does not hold a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line): "
            "use the .pem file GitHub generated for the App."
        )
        return ""
    return value


@dataclass
class _Reader:
    """Reads typed values out of the environment, collecting problems instead of raising."""

    env: Mapping[str, str]
    problems: list[str]

    def text(self, name: str) -> str:
        return self.env.get(PREFIX + name, "").strip()

    def number(
        self, name: str, kind: Callable[[str], int | float], default: Any, *, minimum: float
    ) -> Any:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(
                f"{PREFIX}{name} must be a {kind.__name__} (e.g. {default}), got {raw!r}."
            )
            return default
        if value < minimum:
            self.problems.append(f"{PREFIX}{name} must be at least {minimum}, got {raw!r}.")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        raw = self.text(name).lower() or default
        if raw not in allowed:
            self.problems.append(
                f"{PREFIX}{name} must be one of {', '.join(allowed)}, got {raw!r}."
            )
            return default
        return raw

    def parsed(self, name: str, parse: Callable[[str], Any], default: Any) -> Any:
        raw = self.text(name)
        if not raw:
            return default
        try:
            return parse(raw)
        except (ValueError, TypeError) as error:
            self.problems.append(f"{PREFIX}{name} is not valid: {error}.")
            return default

    def url(self, name: str, default: str) -> str:
        raw = self.text(name) or default
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problems.append(
                f"{PREFIX}{name} must be an http(s) URL such as {default}, got {raw!r}."
            )
        return raw.rstrip("/")

    def store_url(self, name: str, default: str) -> str:
        raw = self.text(name) or default
        if not raw.startswith("sqlite:///"):
            self.problems.append(
                f"{PREFIX}{name} must be sqlite:///PATH (e.g. sqlite:///data/fixwright.db), got {raw!r}."
            )
        return raw


def settings_from_environment() -> Settings:
    """The entry point's one read of the process environment."""
    return load_settings(os.environ)
