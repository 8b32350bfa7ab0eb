"""Where a repository describes its environment, read as untrusted text: the `environment:` of
`.github/fixwright.yml`, else `.devcontainer/devcontainer.json`, else none (the sandbox image).

Pure: text in, an `EnvironmentConfig` or problems out, each problem with the file and line it is
on, so the thread can say where to look.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

REPO_CONFIG_PATH = ".github/fixwright.yml"
DEVCONTAINER_PATH = ".devcontainer/devcontainer.json"
ENVIRONMENT_KEYS = ("image", "dockerfile", "setup", "cache_key_files", "allow_hosts")
MAX_SETUP_COMMANDS = 50
MAX_COMMAND_LENGTH = 10_000
MAX_KEY_FILES = 50
MAX_TEXT = 256 * 1024
# What a repository usually pins its dependencies with: the cache key when it names none.
DEFAULT_KEY_FILES = (
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "go.sum",
    "Gemfile.lock",
)
IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, and the line it is on (1-based; 0 when the file as a whole)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"`{self.path}` line {self.line}" if self.line else f"`{self.path}`"
        return f"{where}: {self.message}"


class EnvironmentConfigError(Exception):
    """The environment's description is not valid; every problem is listed with its line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class EnvironmentConfig:
    """An environment: an image to start from (or a Dockerfile in the repository to build one),
    commands that set it up, and the files whose content keys its cache."""

    source: str  # the file it was described in
    image: str | None = None
    dockerfile: str | None = None  # a path in the repository
    context: str | None = None  # the Dockerfile's build context, a directory in the repository
    setup: tuple[str, ...] = ()
    cache_key_files: tuple[str, ...] = DEFAULT_KEY_FILES
    allow_hosts: tuple[str, ...] | None = None  # narrows the operator's egress allow-list


def _line_of(node: yaml.Node | None, *keys: str) -> int:
    """The 1-based line of `keys` in a composed YAML document (the deepest one found)."""
    line = 0
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line


def _repository_path(value: object) -> str | None:
    """A relative path inside the repository, normalised; None when it is not one."""
    if not isinstance(value, str) or not value.strip() or len(value) > 1024 or "\0" in value:
        return None
    path = posixpath.normpath(value.strip())
    if path.startswith(("/", "../")) or path == ".." or "\\" in path:
        return None
    return path


def _commands(value: object) -> list[str] | None:
    """Setup commands: one string, or a list of strings; None when it is neither."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return [item for item in value if item.strip()]


def _check_environment(data: Mapping[str, Any], line: Any, path: str) -> list[Problem]:
    problems = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(path, line(key), message))

    for key in data:
        if key not in ENVIRONMENT_KEYS:
            problem(key, f"unknown key `environment.{key}` (known: {', '.join(ENVIRONMENT_KEYS)})")
    if "image" in data and "dockerfile" in data:
        problem("dockerfile", "`environment` takes `image` or `dockerfile`, not both")
    image = data.get("image")
    if image is not None and (not isinstance(image, str) or not IMAGE_NAME.fullmatch(image)):
        problem("image", "`environment.image` must be an image name such as `python:3.12`")
    if "dockerfile" in data and _repository_path(data["dockerfile"]) is None:
        problem("dockerfile", "`environment.dockerfile` must be a path in the repository")
    commands = _commands(data.get("setup", []))
    if commands is None:
        problem("setup", "`environment.setup` must be a command or a list of commands")
    elif len(commands) > MAX_SETUP_COMMANDS or any(len(c) > MAX_COMMAND_LENGTH for c in commands):
        problem("setup", f"`environment.setup` takes at most {MAX_SETUP_COMMANDS} commands")
    key_files = data.get("cache_key_files", [])
    if not isinstance(key_files, list) or len(key_files) > MAX_KEY_FILES:
        problem("cache_key_files", "`environment.cache_key_files` must be a list of paths")
    elif any(_repository_path(item) is None for item in key_files):
        problem("cache_key_files", "each of `environment.cache_key_files` must be a path")
    hosts = data.get("allow_hosts")
    if hosts is not None and (
        not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts)
    ):
        problem("allow_hosts", "`environment.allow_hosts` must be a list of host names")
    return problems


def environment_from_repo_config(text: str) -> EnvironmentConfig | None:
    """The `environment:` of `.github/fixwright.yml`, or None when it has none."""
    path = REPO_CONFIG_PATH
    try:
        root = yaml.compose(text[:MAX_TEXT], Loader=yaml.SafeLoader)
        data = yaml.safe_load(text[:MAX_TEXT]) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise EnvironmentConfigError([Problem(path, line, "is not valid YAML")]) from None
    if not isinstance(data, dict) or data.get("environment") is None:
        return None
    environment = data["environment"]
    if not isinstance(environment, dict):
        line = _line_of(root, "environment")
        raise EnvironmentConfigError([Problem(path, line, "`environment` must be a mapping")])
    problems = _check_environment(environment, lambda key: _line_of(root, "environment", key), path)
    if problems:
        raise EnvironmentConfigError(problems)
    dockerfile = _repository_path(environment.get("dockerfile"))
    hosts = environment.get("allow_hosts")
    return EnvironmentConfig(
        source=path,
        image=environment.get("image"),
        dockerfile=dockerfile,
        context=(posixpath.dirname(dockerfile) or ".") if dockerfile else None,
        setup=tuple(_commands(environment.get("setup", [])) or ()),
        cache_key_files=tuple(
            _repository_path(item) or "" for item in environment.get("cache_key_files", [])
        )
        or DEFAULT_KEY_FILES,
        allow_hosts=tuple(hosts) if hosts is not None else None,
    )


def without_comments(text: str) -> str:
    """JSON with comments and trailing commas (what VS Code reads) as plain JSON, every newline
    kept so that lines stay where they were. Linear: one pass, no regular expression."""
    out: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == '"':
            end = index + 1
            while end < length and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[index : end + 1])
            index = end + 1
        elif text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            stop = length if end < 0 else end + 2
            out.append("\n" * text.count("\n", index, stop))
            index = stop
        else:
            out.append(char)
            index += 1
    return _without_trailing_commas("".join(out))


def _without_trailing_commas(text: str) -> str:
    out: list[str] = []
    in_string = False
    index = 0
    while index < len(text):
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\" and index + 1 < len(text):
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char == ",":
            rest = index + 1
            while rest < len(text) and text[rest] in " \t\r\n":
                rest += 1
            if rest >= len(text) or text[rest] not in "]}":
                out.append(char)
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _key_line(text: str, key: str) -> int:
    """The line where `"key"` first appears (0 when it does not)."""
    found = text.find(f'"{key}"')
    return text.count("\n", 0, found) + 1 if found >= 0 else 0


def _lifecycle_commands(value: object) -> list[str] | None:
    """A devcontainer lifecycle command: a string, an argv list, or an object of named commands."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [" ".join(_quoted(item) for item in value)] if value else []
    if isinstance(value, dict):
        commands: list[str] = []
        for item in value.values():
            one = _lifecycle_commands(item)
            if one is None:
                return None
            commands += one
        return commands
    return None


def _quoted(word: str) -> str:
    return (
        word if re.fullmatch(r"[\w@%+=:,./-]+", word) else "'" + word.replace("'", "'\"'\"'") + "'"
    )


def environment_from_devcontainer(text: str) -> EnvironmentConfig:
    """The environment a `devcontainer.json` describes: its `image`, or `build.dockerfile` (paths
    relative to `.devcontainer/`), and `onCreateCommand` then `postCreateCommand` as setup."""
    path = DEVCONTAINER_PATH
    plain = without_comments(text[:MAX_TEXT])
    try:
        data = json.loads(plain)
    except json.JSONDecodeError as error:
        raise EnvironmentConfigError([Problem(path, error.lineno, "is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise EnvironmentConfigError([Problem(path, 1, "must be a JSON object")])
    problems: list[Problem] = []
    build_value = data.get("build")
    build: dict[str, Any] = build_value if isinstance(build_value, dict) else {}
    dockerfile_value = build.get("dockerfile") or data.get("dockerFile")
    image = data.get("image")
    if image is None and dockerfile_value is None:
        problems.append(Problem(path, 1, "names neither `image` nor `build.dockerfile`"))
    if image is not None and (not isinstance(image, str) or not IMAGE_NAME.fullmatch(image)):
        problems.append(Problem(path, _key_line(plain, "image"), "`image` must be an image name"))
    base = posixpath.dirname(path)
    dockerfile = context = None
    if image is None and dockerfile_value is not None:
        dockerfile = _repository_path(posixpath.join(base, str(dockerfile_value)))
        context = _repository_path(posixpath.join(base, str(build.get("context") or ".")))
        if dockerfile is None or context is None or not isinstance(dockerfile_value, str):
            line = _key_line(plain, "dockerfile") or _key_line(plain, "dockerFile")
            problems.append(
                Problem(path, line, "`build.dockerfile` must be a path in the repository")
            )
    setup: list[str] = []
    for key in ("onCreateCommand", "postCreateCommand"):
        commands = _lifecycle_commands(data.get(key))
        if commands is None:
            problems.append(Problem(path, _key_line(plain, key), f"`{key}` must be a command"))
        else:
            setup += commands
    if problems:
        raise EnvironmentConfigError(problems)
    return EnvironmentConfig(
        source=path,
        image=image,
        dockerfile=dockerfile,
        context=context,
        setup=tuple(setup[:MAX_SETUP_COMMANDS]),
    )
