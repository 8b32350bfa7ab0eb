"""The service's settings: read once from FIXWRIGHT_* variables (and .env), validated all at once.

Each setting is declared once, as a field of `Settings` made by `env(...)`: its default, how its
variable is read and checked (app/config_values.py), and what it is for. `load_settings` reads the
declarations; README.md's configuration tables are checked against them by a test.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from app import config_values as read
from app.config_values import (
    QUOTA_LIMIT_NAMES,
    SHORTEST_RETENTION_DAYS,
    branch_prefix_problem,
    parse_installation_quotas,
)
from app.environment_config import EnvironmentConfig
from app.quota_prices import DEFAULT_PRICES, Price, parse_prices
from app.secrets_store import SecretsError, SecretsStore
from sandbox.egress import pattern_problem

__all__ = [
    "QUOTA_LIMIT_NAMES",
    "SHORTEST_RETENTION_DAYS",
    "branch_prefix_problem",
    "parse_installation_quotas",
]

PREFIX = "FIXWRIGHT_"
LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
# How SQLite syncs commits (see app/store/sqlite.py): normal survives a crashed process, full a power cut.
STORE_SYNC_MODES = ("normal", "full")
SANDBOX_RUNTIMES = ("runc", "runsc")
# The agent's network: none at all, or the job's allow-list proxy (as the set-up has).
AGENT_EGRESS_MODES = ("none", "allowlist")
# What one process runs (README, Many hosts): everything, the intake and API only, or jobs only.
ROLES = ("all", "web", "worker")
# In `FIXWRIGHT_EGRESS_ALLOWLIST`: the registries this host's own package clients use
# (app/egress_defaults.py).
REGISTRIES = read.REGISTRIES
# GitHub's repository roles, weakest first.
PERMISSION_LEVELS = ("read", "triage", "write", "maintain", "admin")
MIB = 1024 * 1024


class ConfigError(Exception):
    """Every problem found in the configuration, each naming the variable and the fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Var:
    """How a Settings field is read from its variables (by default FIXWRIGHT_<FIELD NAME>).

    `parse` reads one variable's text (see app/config_values.py); `combine` instead reads the
    field from all of `names` at once, raising ConfigError. `unset` is the fix said when the first
    variable is missing where GitHub is talked to (not on a worker node when `intake_only`);
    `shown` is the README's default where it is not a value (one per name).
    """

    help: str
    parse: read.Parse = read.text
    combine: Callable[[Mapping[str, str]], Any] | None = None
    names: tuple[str, ...] = ()
    github_only: bool = False
    unset: str = ""
    shown: tuple[str, ...] = ()
    intake_only: bool = False


def env(
    default: Any,
    help: str,
    parse: read.Parse = read.text,
    *,
    secret: bool = False,
    combine: Callable[[Mapping[str, str]], Any] | None = None,
    names: tuple[str, ...] = (),
    github_only: bool = False,
    unset: str = "",
    shown: tuple[str, ...] = (),
    intake_only: bool = False,
) -> Any:
    """A Settings field read from the environment (a callable default makes each value anew);
    a secret one is left out of the repr."""
    var = Var(help, parse, combine, names, github_only, unset, shown, intake_only)
    if callable(default):
        return field(default_factory=default, repr=not secret, metadata={"var": var})
    return field(default=default, repr=not secret, metadata={"var": var})


def _webhook_secrets(values: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(s for s in (values["WEBHOOK_SECRET"], values["WEBHOOK_SECRET_PREVIOUS"]) if s)


def _private_key(values: Mapping[str, str]) -> str:
    """The App's PEM private key, given as a value or as a path to a file."""
    value, path = values["PRIVATE_KEY"], values["PRIVATE_KEY_PATH"]
    if value and path:
        raise ConfigError(
            [f"{PREFIX}PRIVATE_KEY and {PREFIX}PRIVATE_KEY_PATH are both set: keep one of them."]
        )
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                [
                    f"{PREFIX}PRIVATE_KEY_PATH={path} cannot be read ({error.strerror}): point it "
                    "at the .pem file downloaded from your GitHub App's page."
                ]
            ) from None
    if not value:
        raise ConfigError(
            [
                f"{PREFIX}PRIVATE_KEY_PATH is not set: point it at the .pem private key downloaded "
                f"from your GitHub App's page (or put the key itself in {PREFIX}PRIVATE_KEY)."
            ]
        )
    value = value.replace("\\n", "\n").strip() + "\n"
    if "PRIVATE KEY-----" not in value:
        name = PREFIX + ("PRIVATE_KEY_PATH" if path else "PRIVATE_KEY")
        raise ConfigError(
            [
                f"{name} does not hold a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' "
                "line): use the .pem file GitHub generated for the App."
            ]
        )
    return value


def _prices_shown() -> str:
    return ", ".join(
        f"{family.title()} {p.input:g}/{p.output:g}/{p.cache_write:g}/{p.cache_read:g}"
        for family, p in DEFAULT_PRICES.items()
    )


def _seconds(minimum: float) -> read.Parse:
    return read.number(float, minimum)


def _count(minimum: int) -> read.Parse:
    return read.number(int, minimum)


# GitHub's App slugs: lower-case letters, digits and hyphens (the App's URL name).
APP_SLUG_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _app_slug(raw: str, default: Any) -> str:
    """The App's slug as questions mention it: `@my-fixwright` or `my-fixwright`."""
    slug = raw.removeprefix("@").lower()
    if not slug or len(slug) > 100 or not set(slug) <= APP_SLUG_CHARACTERS:
        raise ValueError(
            f"must be the App's slug (letters, digits and `-`, as in its URL), got {raw!r}."
        )
    return slug


def _webhook_hosts(raw: str, default: Any) -> tuple[str, ...]:
    """Host patterns as the allow-list proxy reads them (`name`, `*.domain`, IPv4 addresses)."""
    patterns = read.words(raw, default)
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem:
            raise ValueError(
                f"{pattern[:80]!r} {problem} (list host names, `*.` and a domain, or IPv4 "
                "addresses, comma-separated)."
            )
    return tuple(pattern.lower() for pattern in patterns)


# A browser's Origin header: a scheme and a host (with its port), never a path.
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")


def _origins(raw: str, default: Any) -> tuple[str, ...]:
    """Origins as browsers send them (`https://host[:port]`), or `*` for any."""
    origins = read.words(raw, default)
    for origin in origins:
        if origin != "*" and not ORIGIN.fullmatch(origin):
            raise ValueError(
                f"{origin[:80]!r} is not an origin: write it as a browser sends it, "
                "https://host or https://host:port, without a path (or * for any)."
            )
    return origins


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to know, fixed for the life of the process."""

    webhook_secrets: tuple[str, ...] = env(
        (),
        "the App's webhook secret, and a previous one still accepted while rotating",
        combine=_webhook_secrets,
        names=("WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS"),
        github_only=True,
        unset="the service never accepts unsigned webhooks. Set it to the webhook secret of your "
        "GitHub App (Settings > Developer settings > GitHub Apps > your app > Webhook secret).",
        shown=("(required)", ""),
        secret=True,
        intake_only=True,  # a worker node takes no deliveries
    )
    app_id: str = env(
        "",
        "the App's numeric ID",
        read.app_id,
        github_only=True,
        unset="set it to the numeric App ID shown on your GitHub App's page.",
        shown=("(required)",),
    )
    private_key: str = env(
        "",
        "the App's PEM private key, as the value itself or as a path to the file",
        combine=_private_key,
        names=("PRIVATE_KEY", "PRIVATE_KEY_PATH"),
        github_only=True,
        shown=("(one required)", "(one required)"),
        secret=True,
    )
    github_api_url: str = env("https://api.github.com", "GitHub's REST API", read.url)
    # git goes to a repository's `clone_url` only under it (app/github_urls.py)
    github_web_url: str = env(
        "https://github.com", "GitHub's web root, for git and links", read.url
    )
    trigger_label: str = env("fixwright", "the issue label that asks for a fix")
    # Questions mention the App (`@<slug> ...`); the intake needs the slug before any job runs,
    # so when unset it is learned from GitHub's `GET /app` at start (app/app_slug.py).
    app_slug: str = env(
        "",
        "the App's slug, which questions mention",
        _app_slug,
        shown=("(learned from GitHub at start)",),
    )
    # Work branches are `<prefix>issue-N`: one namespace, so push workflows can leave it out.
    branch_prefix: str = env("fixwright/", "where fixes are pushed", read.branch_prefix)
    # A follow-up pushes to the pull request's branch: by default only to fixwright's own. When
    # on, `/fix` and reviews also revise other pull requests from this repository's branches
    # (never from a fork: nothing is pushed to a fork).
    followup_any_pull_request: bool = env(
        False, "`/fix` may revise pull requests fixwright did not open", read.flag
    )
    trigger_permission: str = env(
        "write", "the least role that may trigger", read.choice(PERMISSION_LEVELS)
    )
    # Empty: a trigger below a kind's role is refused. A role: a trigger from someone below it
    # (or below the kind's role) waits for a maintainer's approval (app/trigger_gate.py).
    approval_required_below: str = env(
        "", "who needs a maintainer's approval to start work", read.choice(PERMISSION_LEVELS)
    )
    approval_expires_seconds: float = env(
        86_400.0,
        "how long a request waits for approval",
        read.duration(60),
        names=("APPROVAL_EXPIRES",),
    )
    github_max_wait_seconds: float = env(
        300.0, "the longest a job waits out a rate limit", _seconds(0)
    )
    # githubkit alone would wait forever.
    github_timeout_seconds: float = env(
        60.0, "how long one GitHub request may wait for an answer", _seconds(1)
    )
    github_secondary_limit_wait_seconds: float = env(
        60.0, "the least wait after a secondary rate limit", _seconds(0)
    )
    reconcile_interval_seconds: float = env(
        600.0, "how often missed deliveries are looked for", _seconds(0)
    )
    # A schedule's slot missed while no node ran fires once at start-up when younger than this.
    schedule_catch_up_seconds: float = env(
        3600.0,
        "how old a missed schedule slot may be and still fire at start-up",
        read.duration(0),
        names=("SCHEDULE_CATCH_UP",),
    )
    github_write_interval_seconds: float = env(
        1.0, "spacing of one installation's writes", _seconds(0)
    )
    github_content_interval_seconds: float = env(
        3.0, "spacing of the writes that create comments, PRs and issues", _seconds(0)
    )
    shutdown_grace_seconds: float = env(
        30.0, "how long running jobs may finish on SIGTERM", _seconds(0)
    )
    review_bash_commands: tuple[str, ...] = env(
        (), "command prefixes a review may run with Bash", read.words
    )
    # Set per job from the repository's .github/fixwright.yml (see app/repo_config.py), not from
    # the environment: limits that may only lower the operator's, and draft or ready PRs.
    repo_limits: Mapping[str, float] = field(default_factory=dict)
    draft_pull_requests: bool = True
    # Paths the repository protects from a fix, besides fixwright's own (handlers/protected_paths.py).
    repo_protected_paths: tuple[str, ...] = ()
    # The environment the repository's file describes (app/environment_config.py), if it does.
    repo_environment: EnvironmentConfig | None = None
    store_url: str = env("sqlite:///data/fixwright.db", "the job store", read.store_url)
    store_sync: str = env("normal", "what a commit survives", read.choice(STORE_SYNC_MODES))
    # PostgreSQL connections each process keeps (app/store/postgres.py); unused with SQLite.
    store_pool_size: int = env(10, "PostgreSQL connections per process", _count(1))
    workers: int = env(2, "jobs run at once by this process", _count(0))
    role: str = env("all", "what this process runs: all, web or worker", read.choice(ROLES))
    log_format: str = env("auto", "the log's format", read.choice(LOG_FORMATS))
    log_level: str = env("info", "the least level logged", read.choice(LOG_LEVELS))
    host: str = env("127.0.0.1", "where the HTTP server listens")
    port: int = env(8000, "the HTTP server's port", _count(0))
    job_lease_seconds: float = env(60.0, "how long a claim on a job lasts", _seconds(1))
    job_max_attempts: int = env(2, "runs of a job whose worker died", _count(1))
    poll_interval_seconds: float = env(1.0, "how often idle workers look for jobs", _seconds(0.01))
    anthropic_api_key: str = env("", "the model key, used by the relay", secret=True)
    model_upstream_url: str = env("https://api.anthropic.com", "the model API", read.url)
    model: str = env("", "the model Claude Code uses", shown=("(the CLI's default)",))
    # What the model relay lets a job's requests carry (sandbox/relay_rules.py).
    relay_max_body_bytes: int = env(32 * MIB, "the largest model request body", _count(64 * 1024))
    relay_max_tokens: int = env(
        32_000, "the most output one request may ask for (the CLI is told the same)", _count(1)
    )
    relay_max_in_flight: int = env(2, "model requests in flight at once", _count(1))
    relay_models: tuple[str, ...] = env((), "models allowed besides the job's own", read.words)
    max_turns: int = env(30, "the most agent turns per job", _count(1))
    sandbox_image: str = env("fixwright-sandbox:latest", "the image Claude Code runs in")
    sandbox_runtime: str = env("runc", "the container runtime", read.choice(SANDBOX_RUNTIMES))
    # In Docker's form, as docker-py takes it.
    sandbox_memory: str = env("2g", "the container's memory", read.memory_size(64 * MIB))
    sandbox_cpus: float = env(1.0, "the container's CPUs", read.number(float, 0.1))
    sandbox_pids: int = env(512, "the container's processes", _count(16))
    sandbox_timeout_seconds: float = env(1800.0, "wall-clock limit of one run", _seconds(1))
    sandbox_orphan_grace_seconds: float = env(
        30.0, "how old a container no running job owns must be to be removed", _seconds(0)
    )
    # What is over is dropped and counted.
    sandbox_max_line_bytes: int = env(
        4 * MIB, "the longest line of the CLI's output read", _count(64 * 1024)
    )
    # The session a follow-up resumes (sandbox/session.py); a larger one is not kept.
    sandbox_transcript_max_bytes: int = env(
        8 * MIB, "the largest session transcript kept after a run", _count(64 * 1024)
    )
    # What the host reads back from a workspace (sandbox/workspace_walk.py, sandbox/snapshot.py).
    workspace_max_file_bytes: int = env(50 * MIB, "the largest file a fix may hold", _count(1))
    workspace_max_bytes: int = env(
        10 * 1024 * MIB, "the disk a workspace may use, and what is read back", _count(MIB)
    )
    workspace_max_files: int = env(1_000_000, "the most files a workspace may hold", _count(1))
    workspace_max_changed_bytes: int = env(
        128 * MIB, "the changed content held in memory and committed", _count(1)
    )
    job_token_budget: int = env(2_000_000, "model tokens one job may use", _count(1))
    # Environments (sandbox/environment.py): set-up behind an allow-list proxy, then cached.
    egress_image: str = env("fixwright-egress:latest", "the allow-list proxy's image")
    egress_allowlist: tuple[str, ...] = env(
        (REGISTRIES,),
        "hosts set-up may reach through the proxy",
        read.host_patterns,
    )
    agent_egress: str = env("none", "the agent's network", read.choice(AGENT_EGRESS_MODES))
    environment_setup_timeout_seconds: float = env(
        900.0, "wall-clock limit of an environment's set-up", _seconds(10)
    )
    environment_cache_max_images: int = env(
        20, "prepared environments kept on the engine", _count(1)
    )
    sandbox_ca_bundle: str = env(
        "", "an extra CA bundle the set-up containers trust", read.readable_file
    )
    # A fix's tests, run by the host before and after the change (handlers/fix/verify.py).
    verify_timeout_seconds: float = env(
        600.0, "the longest one test run may take, and a repository's default", _seconds(1)
    )
    verify_max_rounds: int = env(
        2, "the most repair rounds after failing tests a repository may ask for", _count(0)
    )
    # Set per job from the repository's `verify:` (app/repo_config.py): its own test command
    # (empty: detected from its files), or verification turned off.
    repo_verify_command: str = ""
    repo_verify_off: bool = False
    state_dir: str = env("data", "where job workspaces are cloned")
    git_mirrors: bool = env(
        True,
        "clone from a bare mirror of each repository kept on this machine, fetching only what is new",
        read.flag,
    )
    # The job rows stay, as the audit trail (app/retention.py).
    retention_days: int = env(
        30,
        "deliveries, payloads, logs and leftover workspaces older than this are deleted (0: never)",
        read.retention_days,
    )
    # Quotas per installation (0: no limit); tokens per job is `job_token_budget`.
    quota_concurrent_jobs: int = env(2, "jobs running at once", _count(0))
    quota_jobs_per_user_per_hour: int = env(10, "jobs one person may start in an hour", _count(0))
    quota_tokens_per_day: int = env(20_000_000, "model tokens per day", _count(0))
    quota_cost_per_day_usd: float = env(50.0, "model spend per day", read.number(float, 0))
    quota_cost_per_job_usd: float = env(10.0, "model spend per job", read.number(float, 0))
    quota_installations: Mapping[int, Mapping[str, float]] = env(
        dict,
        "{installation id: {limit name: value}}, replacing the limits above for it",
        read.json_value(parse_installation_quotas),
    )
    model_prices: Mapping[str, Price] = env(
        lambda: dict(DEFAULT_PRICES),
        "US dollars per million tokens by model family, what every run is charged",
        read.json_value(parse_prices),
        shown=(_prices_shown(),),
    )
    metrics_token: str = env(
        "", "the bearer token /metrics, /metrics/prometheus and /quota need", secret=True
    )
    metrics_public: bool = env(
        False, "leaves those routes open on a non-loopback address without a token", read.flag
    )
    # Outgoing webhooks (app/outgoing_webhooks.py): where a task's webhook may go
    # (app/egress_guard.py), and how long it is retried.
    webhook_allowed_hosts: tuple[str, ...] = env(
        (), "hosts outgoing webhooks may be sent to (empty: any public host)", _webhook_hosts
    )
    webhook_allow_private: bool = env(
        False, "outgoing webhooks may go to private and loopback addresses", read.flag
    )
    webhook_allow_http: bool = env(False, "outgoing webhooks may use plain http", read.flag)
    webhook_max_attempts: int = env(8, "tries of one outgoing webhook", _count(1))
    webhook_retry_for_seconds: float = env(
        3600.0,
        "how long an outgoing webhook is retried",
        read.duration(0),
        names=("WEBHOOK_RETRY_FOR",),
    )
    webhook_backoff_seconds: float = env(
        10.0, "the wait before an outgoing webhook's first retry", _seconds(0.01)
    )
    webhook_timeout_seconds: float = env(
        10.0, "how long one outgoing webhook attempt may take", _seconds(1)
    )
    # The task API (app/api/): each key's limits unless the key has its own (counted in this
    # process's memory), and the browser origins that may call it (none: no page may).
    api_rate_per_minute: int = env(60, "requests one API key may make in a minute", _count(1))
    api_rate_per_hour: int = env(1000, "requests one API key may make in an hour", _count(1))
    api_cors_origins: tuple[str, ...] = env(
        (), "the browser origins that may call the API, comma-separated (`*`: any)", _origins
    )
    # Job events (app/job_events.py) as Server-Sent Events, and the live job page
    # (app/job_page.py) whose signed links (app/page_tokens.py) the progress comment carries.
    sse_heartbeat_seconds: float = env(
        15.0, "the quiet time after which an event stream sends a heartbeat", _seconds(0.05)
    )
    public_url: str = env("", "the address people reach this service at (job page links)", read.url)
    page_signing_key: str = env(
        "", "the key job page links are signed with (empty: a generated one)", secret=True
    )
    page_link_seconds: float = env(
        604800.0,
        "how long a job page link stays valid",
        read.duration(60),
        names=("PAGE_LINK_EXPIRES",),
    )
    # The App's credentials and the model key stored by set-up (app/secrets_store.py).
    secrets_key: str = env(
        "",
        "the key stored secrets are encrypted with (empty: a key file generated in the state "
        "directory)",
        secret=True,
    )
    # Where each credential came from ("env", "stored" or absent), for GET /setup/status.
    value_sources: Mapping[str, str] = field(default_factory=dict)

    def needs_setup(self) -> bool:
        """True while the App is not registered: the service then serves only its set-up page.
        A worker node needs no webhook secret (it takes no deliveries)."""
        intake = bool(self.webhook_secrets) or self.role == "worker"
        return not (self.app_id and self.private_key and intake)

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
                self.page_signing_key,
                self.secrets_key,
            )
            if s
        )


@dataclass(frozen=True)
class Declared:
    """One environment-read Settings field: its name, its variables, how they are read, its default."""

    settings_field: Field[Any]

    @property
    def attribute(self) -> str:
        return self.settings_field.name

    @property
    def var(self) -> Var:
        return self.settings_field.metadata["var"]

    @property
    def names(self) -> tuple[str, ...]:
        return self.var.names or (self.attribute.upper(),)

    @property
    def default(self) -> Any:
        """The field's default, made anew where it is mutable (a dict)."""
        if self.settings_field.default_factory is not MISSING:
            return self.settings_field.default_factory()
        return self.settings_field.default


DECLARED = tuple(Declared(f) for f in fields(Settings) if "var" in f.metadata)
# Read only by commands that talk to GitHub (`serve`, `jobs`).
GITHUB_ONLY = tuple(name for d in DECLARED if d.var.github_only for name in d.names)


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
    environ: Mapping[str, str],
    dotenv: Path | None = Path(".env"),
    *,
    for_github: bool = True,
    setup_allowed: bool = False,
) -> Settings:
    """Build Settings from the environment (which wins over .env, which wins over the values set-up
    stored); raise ConfigError listing all problems.

    `for_github=False` is for commands that never talk to GitHub (`fixwright run`, `sandbox build`):
    the webhook secret and the App's credentials are then neither required nor read.
    `setup_allowed` (`serve`): with none of the App's credentials anywhere, they are not required
    either, and the service starts in set-up mode (`Settings.needs_setup`).
    """
    given = {**(read_dotenv(dotenv) if dotenv else {}), **environ}
    problems: list[str] = []
    stored = _stored_values(given, problems)
    env = with_stored(given, stored)
    # A worker node has no set-up page: it needs the App's credentials from the start.
    worker_node = env.get(PREFIX + "ROLE", "").strip().lower() == "worker"
    unregistered = (
        setup_allowed
        and not worker_node
        and not any(env.get(PREFIX + n, "").strip() for n in GITHUB_ONLY)
    )
    read_github = for_github and not unregistered
    values = {
        d.attribute: _read(d, env, problems, worker_node)
        if read_github or not d.var.github_only
        else d.default
        for d in DECLARED
    }
    values["value_sources"] = value_sources(given, stored)
    if for_github:
        problems.extend(open_operator_routes(values))
        problems.extend(role_problems(values))
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


# The variables set-up may fill (app/secrets_store.py), with those that, when set, leave it alone.
STORED_SETTINGS = {
    "APP_ID": ("APP_ID",),
    "APP_SLUG": ("APP_SLUG",),
    "WEBHOOK_SECRET": ("WEBHOOK_SECRET",),
    "PRIVATE_KEY": ("PRIVATE_KEY", "PRIVATE_KEY_PATH"),
    "ANTHROPIC_API_KEY": ("ANTHROPIC_API_KEY",),
    "CLIENT_SECRET": ("CLIENT_SECRET",),
}


def _stored_values(env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """What set-up stored in the state directory ({} when nothing is), a problem when unreadable."""
    store = SecretsStore(
        env.get(PREFIX + "STATE_DIR", "").strip() or "data",
        env.get(PREFIX + "SECRETS_KEY", "").strip(),
    )
    try:
        return store.read() if store.exists() else {}
    except SecretsError as error:
        problems.append(str(error))
        return {}


def with_stored(env: Mapping[str, str], stored: Mapping[str, str]) -> dict[str, str]:
    """The environment, with stored values filling only the settings it leaves empty."""
    merged = dict(env)
    for name, overriding in STORED_SETTINGS.items():
        if stored.get(name) and not any(env.get(PREFIX + n, "").strip() for n in overriding):
            merged[PREFIX + name] = stored[name]
    return merged


def value_sources(env: Mapping[str, str], stored: Mapping[str, str]) -> dict[str, str]:
    """Where each value set-up may store comes from: "env", "stored", or absent (never the value)."""
    sources: dict[str, str] = {}
    for name, overriding in STORED_SETTINGS.items():
        if any(env.get(PREFIX + n, "").strip() for n in overriding):
            sources[name] = "env"
        elif stored.get(name):
            sources[name] = "stored"
    return sources


def _read(
    declared: Declared, env: Mapping[str, str], problems: list[str], worker_node: bool = False
) -> Any:
    """One field's value from its variables, or its default with the problem noted."""
    var = declared.var
    raw = {name: env.get(PREFIX + name, "").strip() for name in declared.names}
    first = declared.names[0]
    if var.unset and not raw[first] and not (var.intake_only and worker_node):
        problems.append(f"{PREFIX}{first} is not set: {var.unset}")
    try:
        if var.combine:
            return var.combine(raw)
        return var.parse(raw[first], declared.default) if raw[first] else declared.default
    except ConfigError as error:
        problems.extend(error.problems)
    except ValueError as error:
        problems.append(f"{PREFIX}{first} {error}")
    return declared.default


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


def role_problems(values: Mapping[str, Any]) -> list[str]:
    """A worker node that could run nothing is a mistake, not a quiet idle process."""
    if values["role"] == "worker" and not values["workers"]:
        return [
            f"{PREFIX}ROLE=worker runs jobs only, but {PREFIX}WORKERS is 0: set it to the jobs "
            "this process may run at once (at least 1), or use the web role for the intake."
        ]
    return []


def settings_from_environment(
    overrides: Mapping[str, str] | None = None, *, setup_allowed: bool = False
) -> Settings:
    """The entry point's one read of the process environment; `overrides` are command-line
    options, validated as if they were set there. A read-only view, not a copy: the settings
    are read from it, and no subprocess is ever given it (sandbox/host_environment.py)."""
    return load_settings(ChainMap(dict(overrides or {}), os.environ), setup_allowed=setup_allowed)
