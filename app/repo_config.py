"""A repository's own settings, `.github/fixwright.yml` on its default branch: they may narrow, never widen.

A maintainer can pick the model, lower the turn limit and the budgets, require a higher role to
trigger, ask for ready (non-draft) pull requests, protect more paths from a fix, and say how a
fix's tests run (`verify:`). Nothing here can raise what the operator allows: limits only go down,
the required role only goes up, the protected paths are added to fixwright's own, never put in
their place, and a test run's time and repair rounds are at most the operator's.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.config import PERMISSION_LEVELS, QUOTA_LIMIT_NAMES, Settings
from app.environment_config import (
    EnvironmentConfig,
    EnvironmentConfigError,
    environment_from_repo_config,
)
from app.path_globs import pattern_problem
from app.schedule_rules import (
    DEFAULT_OUTPUT,
    DEFAULT_TIMEZONE,
    MAX_CRON_CHARACTERS,
    MAX_PROMPT_CHARACTERS,
    MAX_TIMEZONE_CHARACTERS,
    OUTPUTS,
    cron_problem,
    name_problem,
    nul_problem,
    output_issue_problem,
    timezone_problem,
)

PATH = ".github/fixwright.yml"
LIMIT_KEYS = QUOTA_LIMIT_NAMES
KEYS = (
    "model",
    "max_turns",
    "trigger_permission",
    "draft_pull_requests",
    "limits",
    "protected_paths",
    "environment",
    "verify",
    "approval",
    "schedules",
)
MAX_PROTECTED_PATHS = 100
VERIFY_KEYS = ("command", "timeout", "max_rounds")
MAX_COMMAND_CHARACTERS = 2_000
MAX_REPAIR_ROUNDS = 10
SCHEDULE_KEYS = ("name", "cron", "timezone", "prompt", "output", "issue")
MAX_SCHEDULES = 50


class RepoConfigError(Exception):
    """The file exists but is not valid; every problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class VerifyConfig:
    """`verify:`: the test command (empty: detected from the repository's files), its time limit,
    the repair rounds after a failure, or verification turned off (`verify: false`)."""

    command: str = ""
    timeout_seconds: float | None = None
    max_rounds: int = 1
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleConfig:
    """One entry of `schedules:`: a recurring task the repository declares for itself."""

    name: str
    cron: str
    prompt: str
    timezone: str = DEFAULT_TIMEZONE
    output: str = DEFAULT_OUTPUT
    issue: int | None = None


@dataclass(frozen=True)
class RepoConfig:
    model: str | None = None
    max_turns: int | None = None
    trigger_permission: str | None = None
    draft_pull_requests: bool = True
    limits: Mapping[str, float] = field(default_factory=dict)
    protected_paths: tuple[str, ...] = ()
    environment: EnvironmentConfig | None = None
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    # `approval: {required_below: <role>}`: only raises the operator's approval policy.
    approval_required_below: str | None = None
    schedules: tuple[ScheduleConfig, ...] = ()


def parse_repo_config(text: str) -> RepoConfig:
    """The file's settings, or RepoConfigError naming each problem (unknown keys included)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise RepoConfigError([f"{PATH} is not valid YAML ({error.__class__.__name__})"]) from None
    if not isinstance(data, dict):
        raise RepoConfigError([f"{PATH} must be a mapping of settings"])
    problems = [f"unknown setting `{key}`" for key in data if key not in KEYS]
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        problems.append("`model` must be a model name")
    turns = data.get("max_turns")
    if turns is not None and (not isinstance(turns, int) or isinstance(turns, bool) or turns < 1):
        problems.append("`max_turns` must be a whole number of at least 1")
    role = data.get("trigger_permission")
    if role is not None and role not in PERMISSION_LEVELS:
        problems.append(f"`trigger_permission` must be one of {', '.join(PERMISSION_LEVELS)}")
    draft = data.get("draft_pull_requests", True)
    if not isinstance(draft, bool):
        problems.append("`draft_pull_requests` must be true or false")
    limits = data.get("limits") or {}
    if not isinstance(limits, dict):
        problems.append("`limits` must be a mapping")
        limits = {}
    for key, value in limits.items():
        if key not in LIMIT_KEYS:
            problems.append(f"unknown limit `{key}` (known: {', '.join(LIMIT_KEYS)})")
        elif not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            problems.append(f"limit `{key}` must be a positive number")
    environment = None
    try:
        environment = environment_from_repo_config(text)
    except EnvironmentConfigError as error:
        problems += [str(problem) for problem in error.problems]
    protected = data.get("protected_paths") or []
    problems += protected_paths_problems(protected)
    verify, verify_problems = parse_verify(data.get("verify"))
    problems += verify_problems
    approval_role, approval_problems = parse_approval(data.get("approval"))
    problems += approval_problems
    schedules, schedule_problems = parse_schedules(data.get("schedules"))
    problems += schedule_problems
    if problems:
        raise RepoConfigError(problems)
    return RepoConfig(
        model=model.strip() if model else None,
        max_turns=turns,
        trigger_permission=role,
        draft_pull_requests=draft,
        limits={key: float(value) for key, value in limits.items()},
        protected_paths=tuple(protected),
        environment=environment,
        verify=verify,
        approval_required_below=approval_role,
        schedules=schedules,
    )


def parse_approval(value: object) -> tuple[str | None, list[str]]:
    """`approval:` read: a mapping whose one key, `required_below`, names a role."""
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, ["`approval` must be a mapping such as `{required_below: write}`"]
    problems = [
        f"unknown setting `approval.{str(key)[:40]}` (known: required_below)"
        for key in value
        if key != "required_below"
    ]
    role = value.get("required_below")
    if role not in PERMISSION_LEVELS:
        problems.append(f"`approval.required_below` must be one of {', '.join(PERMISSION_LEVELS)}")
        role = None
    return role, problems


def parse_verify(value: object) -> tuple[VerifyConfig, list[str]]:
    """`verify:` read: a mapping of `command`, `timeout` and `max_rounds`, or false (off)."""
    if value is None or value is True:
        return VerifyConfig(), []
    if value is False:
        return VerifyConfig(enabled=False), []
    if not isinstance(value, dict):
        return VerifyConfig(), [
            "`verify` must be a mapping (`command`, `timeout`, `max_rounds`) or false"
        ]
    problems = [
        f"unknown setting `verify.{str(key)[:40]}` (known: {', '.join(VERIFY_KEYS)})"
        for key in value
        if key not in VERIFY_KEYS
    ]
    command = value.get("command", "")
    if not isinstance(command, str) or "\0" in command:
        problems.append("`verify.command` must be a shell command")
        command = ""
    elif len(command) > MAX_COMMAND_CHARACTERS:
        problems.append(f"`verify.command` may be at most {MAX_COMMAND_CHARACTERS:,} characters")
    timeout = value.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout < 1e9
    ):
        problems.append("`verify.timeout` must be a positive number of seconds")
        timeout = None
    rounds = value.get("max_rounds", 1)
    if (
        not isinstance(rounds, int)
        or isinstance(rounds, bool)
        or not 0 <= rounds <= MAX_REPAIR_ROUNDS
    ):
        problems.append(f"`verify.max_rounds` must be a whole number from 0 to {MAX_REPAIR_ROUNDS}")
        rounds = 1
    config = VerifyConfig(
        command=command.strip(),
        timeout_seconds=float(timeout) if timeout is not None else None,
        max_rounds=rounds,
    )
    return config, problems


def parse_schedules(value: object) -> tuple[tuple[ScheduleConfig, ...], list[str]]:
    """`schedules:` read: a list of mappings, each held to the API's rules for a schedule
    (app/schedule_rules.py); each problem names its entry, as `schedules[0].cron`."""
    if value is None:
        return (), []
    if not isinstance(value, list):
        return (), ["`schedules` must be a list of schedules (`name`, `cron`, `prompt`, ...)"]
    if len(value) > MAX_SCHEDULES:
        return (), [f"`schedules` may list at most {MAX_SCHEDULES} schedules"]
    problems: list[str] = []
    schedules = []
    names: set[str] = set()
    for index, entry in enumerate(value):
        schedule, entry_problems = parse_schedule(entry)
        problems += [f"`schedules[{index}]{problem}" for problem in entry_problems]
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and not name_problem(name):
            if name in names:
                problems.append(f"`schedules[{index}].name`: another schedule is named {name}")
            names.add(name)
        if schedule is not None:
            schedules.append(schedule)
    return tuple(schedules), problems


def parse_schedule(entry: object) -> tuple[ScheduleConfig | None, list[str]]:
    """One entry, or None with its problems; each problem starts with the field's path."""
    if not isinstance(entry, dict):
        return None, ["`: must be a mapping (`name`, `cron`, `prompt`, ...)"]
    problems = [
        f"`: unknown setting `{str(key)[:40]}` (known: {', '.join(SCHEDULE_KEYS)})"
        for key in entry
        if key not in SCHEDULE_KEYS
    ]
    name = entry.get("name")
    if name_problem(name):
        problems.append(f".name`: {name_problem(name)}")
    cron = entry.get("cron")
    if not isinstance(cron, str) or len(cron) > MAX_CRON_CHARACTERS:
        problems.append(
            f".cron`: must be a cron expression of at most {MAX_CRON_CHARACTERS} characters"
        )
    elif cron_problem(cron):
        problems.append(f".cron`: {cron_problem(cron)}")
    timezone = entry.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str) or len(timezone) > MAX_TIMEZONE_CHARACTERS:
        problems.append(".timezone`: must be a timezone name such as UTC or Europe/Paris")
    elif timezone_problem(timezone):
        problems.append(f".timezone`: {timezone_problem(timezone)}")
    prompt = entry.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARACTERS:
        problems.append(
            f".prompt`: must be the task's text, 1 to {MAX_PROMPT_CHARACTERS:,} characters"
        )
    elif nul_problem(prompt):
        problems.append(f".prompt`: {nul_problem(prompt)}")
    output = entry.get("output", DEFAULT_OUTPUT)
    if output not in OUTPUTS:
        problems.append(f".output`: must be one of {', '.join(OUTPUTS)}")
    issue = entry.get("issue")
    if issue is not None and (not isinstance(issue, int) or isinstance(issue, bool) or issue < 1):
        problems.append(".issue`: must be an issue's number")
    elif output in OUTPUTS and output_issue_problem(output, issue):
        problems.append(f"`: {output_issue_problem(output, issue)}")
    if problems:
        return None, problems
    assert isinstance(name, str) and isinstance(cron, str) and isinstance(prompt, str)
    return ScheduleConfig(
        name=name,
        cron=" ".join(cron.split()),
        prompt=prompt,
        timezone=str(timezone),
        output=str(output),
        issue=issue,
    ), []


def protected_paths_problems(patterns: object) -> list[str]:
    """What is wrong with `protected_paths`: a list of glob patterns, each named when it is bad."""
    if not isinstance(patterns, list):
        return ["`protected_paths` must be a list of path patterns such as `deploy/**`"]
    if len(patterns) > MAX_PROTECTED_PATHS:
        return [f"`protected_paths` may list at most {MAX_PROTECTED_PATHS} patterns"]
    problems = []
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem:
            shown = repr(pattern)[:80].replace("`", "'")
            problems.append(f"`protected_paths` entry {shown} {problem}")
    return problems


def narrowed(settings: Settings, config: RepoConfig) -> Settings:
    """The settings for one job in this repository: the operator's, narrowed by the repository's."""
    changes: dict[str, Any] = {
        "repo_limits": dict(config.limits),
        "repo_protected_paths": config.protected_paths,
        "repo_environment": config.environment,
    }
    if config.model:
        changes["model"] = config.model
    if config.max_turns:
        changes["max_turns"] = min(settings.max_turns, config.max_turns)
    if config.trigger_permission and PERMISSION_LEVELS.index(
        config.trigger_permission
    ) > PERMISSION_LEVELS.index(settings.trigger_permission):
        changes["trigger_permission"] = config.trigger_permission
    if "tokens_per_job" in config.limits:
        changes["job_token_budget"] = min(
            settings.job_token_budget, int(config.limits["tokens_per_job"])
        )
    changes["draft_pull_requests"] = config.draft_pull_requests
    # Only where the operator turned the policy on, and only upwards.
    wanted, operators = config.approval_required_below, settings.approval_required_below
    if (
        wanted
        and operators
        and PERMISSION_LEVELS.index(wanted) > PERMISSION_LEVELS.index(operators)
    ):
        changes["approval_required_below"] = wanted
    verify = config.verify
    changes["repo_verify_command"] = verify.command
    changes["repo_verify_off"] = not verify.enabled
    changes["verify_max_rounds"] = min(settings.verify_max_rounds, verify.max_rounds)
    if verify.timeout_seconds is not None:
        changes["verify_timeout_seconds"] = min(
            settings.verify_timeout_seconds, verify.timeout_seconds
        )
    return dataclasses.replace(settings, **changes)


async def load_repo_config(
    github: GitHub[Any], repository: str, ref: str | None = None
) -> RepoConfig:
    """The repository's config at `ref` (its default branch when None); the defaults when it
    has none."""
    owner, _, name = repository.partition("/")
    try:
        if ref is None:
            response = await github.rest.repos.async_get_content(owner, name, PATH)
        else:
            response = await github.rest.repos.async_get_content(owner, name, PATH, ref=ref)
    except RequestFailed as error:
        if error.response.status_code == 404:
            return RepoConfig()
        raise
    content = getattr(response.parsed_data, "content", None)
    if not isinstance(content, str):
        raise RepoConfigError([f"{PATH} is not a file"])
    return parse_repo_config(base64.b64decode(content).decode("utf-8", "replace"))
