"""The service's settings: read once from FIXWRIGHT_* variables (and .env), validated all at once."""

from __future__ import annotations

import hashlib
import ipaddress
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
BRANCH_PREFIX_MAX_LENGTH = 60
BRANCH_PREFIX_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/"
)
# How a yes-or-no variable may be spelled (unset is no).
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("", "false", "no", "0")
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
    # Work branches are `<prefix>issue-N`: one namespace, so push workflows can leave it out.
    branch_prefix: str = "fixwright/"
    trigger_permission: str = "write"
    github_max_wait_seconds: float = 300.0
    # How long one GitHub request may wait for an answer (githubkit alone would wait forever).
    github_timeout_seconds: float = 60.0
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
    # Paths the repository protects from a fix, besides fixwright's own (handlers/protected_paths.py).
    repo_protected_paths: tuple[str, ...] = ()
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
    # What the model relay lets a job's requests carry (sandbox/relay_rules.py): the largest body,
    # the most output one request may ask for (the CLI is told the same), how many requests may
    # be in flight at once, and models allowed besides the job's own.
    relay_max_body_bytes: int = 32 * 1024 * 1024
    relay_max_tokens: int = 32_000
    relay_max_in_flight: int = 2
    relay_models: tuple[str, ...] = ()
    max_turns: int = 30
    sandbox_image: str = "fixwright-sandbox:latest"
    sandbox_runtime: str = "runc"
    sandbox_memory: str = "2g"
    sandbox_cpus: float = 1.0
    sandbox_pids: int = 512
    sandbox_timeout_seconds: float = 1800.0
    # Longest line of the CLI's output read; what is over is dropped and counted.
    sandbox_max_line_bytes: int = 4 * 1024 * 1024
    # What the host reads back from a workspace (sandbox/workspace_walk.py, sandbox/snapshot.py):
    # one file, all files (also the disk the workspace may use while the run goes on), how many
    # files, and the changed content held in memory and committed.
    workspace_max_file_bytes: int = 50 * 1024 * 1024
    workspace_max_bytes: int = 10 * 1024 * 1024 * 1024
    workspace_max_files: int = 1_000_000
    workspace_max_changed_bytes: int = 128 * 1024 * 1024
    job_token_budget: int = 2_000_000
    state_dir: str = "data"
    # Deliveries, finished jobs' payloads and logs, and leftover workspaces older than this are
    # deleted (0: never); the job rows stay, as the audit trail (app/retention.py).
    retention_days: int = 30
    # Quotas per installation (0: no limit); tokens per job is `job_token_budget`.
    quota_concurrent_jobs: int = 2
    quota_jobs_per_user_per_hour: int = 10
    quota_tokens_per_day: int = 20_000_000
    quota_cost_per_day_usd: float = 50.0
    quota_cost_per_job_usd: float = 10.0
    # {installation id: {limit name: value}}, replacing the limits above for that installation.
    quota_installations: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    # US dollars per million tokens by model family: what every run is charged, from the relay's counts.
    model_prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    # When set, /metrics, /metrics/prometheus and /quota need `Authorization: Bearer <token>`.
    metrics_token: str = field(default="", repr=False)
    # Leaves those routes open on a non-loopback address without a token, on the operator's word.
    metrics_public: bool = False

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

    def push_filter_reminder(self) -> str:
        """What operators must do so that fixwright's pushes start no workflow with secrets."""
        return (
            f"fixes are pushed to branches under {self.branch_prefix}: exclude "
            f"'{self.branch_prefix}**' from push-triggered workflows that use secrets "
            "(on: push: branches-ignore)"
        )

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
        "branch_prefix": reader.branch_prefix("BRANCH_PREFIX", Settings.branch_prefix),
        "trigger_permission": reader.choice("TRIGGER_PERMISSION", PERMISSION_LEVELS, "write"),
        "github_max_wait_seconds": reader.number(
            "GITHUB_MAX_WAIT_SECONDS", float, 300.0, minimum=0
        ),
        "github_timeout_seconds": reader.number(
            "GITHUB_TIMEOUT_SECONDS", float, Settings.github_timeout_seconds, minimum=1
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
        **_relay_limits(reader),
        "max_turns": reader.number("MAX_TURNS", int, Settings.max_turns, minimum=1),
        "sandbox_image": reader.text("SANDBOX_IMAGE") or Settings.sandbox_image,
        "sandbox_runtime": reader.choice("SANDBOX_RUNTIME", SANDBOX_RUNTIMES, "runc"),
        "sandbox_memory": reader.text("SANDBOX_MEMORY") or Settings.sandbox_memory,
        "sandbox_cpus": reader.number("SANDBOX_CPUS", float, Settings.sandbox_cpus, minimum=0.1),
        "sandbox_pids": reader.number("SANDBOX_PIDS", int, Settings.sandbox_pids, minimum=16),
        "sandbox_timeout_seconds": reader.number(
            "SANDBOX_TIMEOUT_SECONDS", float, Settings.sandbox_timeout_seconds, minimum=1
        ),
        **_workspace_limits(reader),
        "job_token_budget": reader.number(
            "JOB_TOKEN_BUDGET", int, Settings.job_token_budget, minimum=1
        ),
        "state_dir": reader.text("STATE_DIR") or Settings.state_dir,
        "retention_days": _retention_days(reader),
        **_quota_values(reader),
    }
    if for_github:
        problems.extend(open_operator_routes(values))
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_operator_routes(values: Mapping[str, Any]) -> list[str]:
    """A problem when the service would listen beyond this machine with its operator routes open
    (they tell anyone the load, the spend and the installations), and nobody said so on purpose."""
    host = values["host"]
    if is_loopback(host) or values["metrics_token"] or values["metrics_public"]:
        return []
    return [
        f"{PREFIX}HOST={host} is reachable from other machines, so /metrics, /metrics/prometheus "
        f"and /quota would be open to anyone: set {PREFIX}METRICS_TOKEN to a long random value "
        f"(scrapers send it as a bearer token), or set {PREFIX}METRICS_PUBLIC=true to leave them "
        "open on purpose."
    ]


def _relay_limits(reader: _Reader) -> dict[str, Any]:
    """What the model relay lets through: body size, output per request, requests at once, models."""
    minimums = (
        ("relay_max_body_bytes", 64 * 1024),
        ("relay_max_tokens", 1),
        ("relay_max_in_flight", 1),
    )
    return {
        **{
            name: reader.number(name.upper(), int, getattr(Settings, name), minimum=minimum)
            for name, minimum in minimums
        },
        "relay_models": tuple(
            model.strip() for model in reader.text("RELAY_MODELS").split(",") if model.strip()
        ),
    }


def _workspace_limits(reader: _Reader) -> dict[str, Any]:
    """The caps on what the host reads from a run: the CLI's lines and the workspace's files."""
    caps = (
        ("sandbox_max_line_bytes", 64 * 1024),
        ("workspace_max_file_bytes", 1),
        ("workspace_max_bytes", 1024 * 1024),
        ("workspace_max_files", 1),
        ("workspace_max_changed_bytes", 1),
    )
    return {
        name: reader.number(name.upper(), int, getattr(Settings, name), minimum=minimum)
        for name, minimum in caps
    }


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
        "metrics_public": reader.flag("METRICS_PUBLIC"),
    }


def branch_prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot start work branch names, or None: a short namespace that git accepts."""
    if len(prefix) > BRANCH_PREFIX_MAX_LENGTH:
        return f"is longer than {BRANCH_PREFIX_MAX_LENGTH} characters"
    if not set(prefix) <= BRANCH_PREFIX_CHARACTERS:
        return "may hold only letters, digits, `.`, `_`, `-` and `/`"
    if not prefix.endswith("/"):
        # A namespace of its own: `<prefix>**` then matches fixwright's branches and nobody else's.
        return "must end with `/`"
    segments = prefix[:-1].split("/")
    if any(not s or s.startswith((".", "-")) or s.endswith((".", ".lock")) for s in segments):
        return "has a part that is empty, starts with `.` or `-`, or ends with `.` or `.lock`"
    if ".." in prefix:
        return "contains `..`"
    return None


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


# Deliveries are kept past GitHub's 3-day redelivery window, so that a replay inside it is still
# known for one.
SHORTEST_RETENTION_DAYS = 4


def _retention_days(reader: _Reader) -> int:
    days = reader.number("RETENTION_DAYS", int, Settings.retention_days, minimum=0)
    if 0 < days < SHORTEST_RETENTION_DAYS:
        reader.problems.append(
            f"{PREFIX}RETENTION_DAYS must be 0 (keep everything) or at least "
            f"{SHORTEST_RETENTION_DAYS}, got {days}: deliveries are kept past GitHub's 3-day "
            "redelivery window, so that a replay inside it is still recognised."
        )
    return days


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

    def flag(self, name: str) -> bool:
        raw = self.text(name).lower()
        if raw not in TRUE_WORDS + FALSE_WORDS:
            self.problems.append(f"{PREFIX}{name} must be true or false, got {raw!r}.")
        return raw in TRUE_WORDS

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

    def branch_prefix(self, name: str, default: str) -> str:
        raw = self.text(name) or default
        problem = branch_prefix_problem(raw)
        if problem:
            self.problems.append(
                f"{PREFIX}{name} {problem}, got {raw!r}: use a prefix such as {default}."
            )
            return default
        return raw


def settings_from_environment(overrides: Mapping[str, str] | None = None) -> Settings:
    """The entry point's one read of the process environment; `overrides` are command-line
    options, validated as if they were set there."""
    return load_settings({**os.environ, **(overrides or {})})
