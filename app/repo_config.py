"""A repository's own settings, `.github/fixwright.yml` on its default branch: they may narrow, never widen.

A maintainer can pick the model, lower the turn limit and the budgets, require a higher role to
trigger, ask for ready (non-draft) pull requests, and protect more paths from a fix. Nothing here
can raise what the operator allows: limits only go down, the required role only goes up, and the
protected paths are added to fixwright's own, never put in their place.
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
)
MAX_PROTECTED_PATHS = 100


class RepoConfigError(Exception):
    """The file exists but is not valid; every problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RepoConfig:
    model: str | None = None
    max_turns: int | None = None
    trigger_permission: str | None = None
    draft_pull_requests: bool = True
    limits: Mapping[str, float] = field(default_factory=dict)
    protected_paths: tuple[str, ...] = ()
    environment: EnvironmentConfig | None = None


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
    )


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
    return dataclasses.replace(settings, **changes)


async def load_repo_config(github: GitHub[Any], repository: str) -> RepoConfig:
    """The repository's config from its default branch; the defaults when it has none."""
    owner, _, name = repository.partition("/")
    try:
        response = await github.rest.repos.async_get_content(owner, name, PATH)
    except RequestFailed as error:
        if error.response.status_code == 404:
            return RepoConfig()
        raise
    content = getattr(response.parsed_data, "content", None)
    if not isinstance(content, str):
        raise RepoConfigError([f"{PATH} is not a file"])
    return parse_repo_config(base64.b64decode(content).decode("utf-8", "replace"))
