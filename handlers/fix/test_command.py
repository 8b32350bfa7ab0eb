"""Which command a fix's tests run with: the repository's own (`verify.command`), else one detected
from the files at the top of its base commit. Pure: the files' entries and texts in, a choice out.

The files are hostile input: only regular files are read (a link in place of `package.json` is
not followed), each at most `MAX_FILE_BYTES`, with the standard library's parsers (TOML, JSON;
no code runs, and a parser's recursion error is a file not understood) or line by line.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.repo_config import PATH as REPO_CONFIG_PATH

MAX_FILE_BYTES = 256 * 1024
MAX_REQUIREMENTS_FILES = 20
MAX_NODES = 100_000  # of a parsed pyproject.toml looked at
PYTEST = "python3 -m pytest -q"
NPM = "npm test"
CARGO = "cargo test"
GO = "go test ./..."
NPM_DEFAULT_TEST = "no test specified"  # the `test` script `npm init` writes: it only fails
PYTHON_FILES = ("pyproject.toml", "setup.cfg", "tox.ini", "pytest.ini")
# Sections of ini-style files that are pytest's own configuration.
PYTEST_SECTIONS = ("[pytest]", "[tool:pytest]")


@dataclass(frozen=True)
class TopFile:
    """An entry at the top of the base commit's tree."""

    name: str
    regular: bool  # a regular file: not a link, a directory or a submodule
    size: int | None


@dataclass(frozen=True)
class CommandChoice:
    """The command (empty when none), and how it was chosen or why there is none, in words."""

    command: str
    why: str


def is_requirements(name: str) -> bool:
    """`requirements.txt`, `requirements-dev.txt`, `requirements_test.txt`."""
    return name.startswith("requirements") and name.endswith(".txt")


def _candidate(name: str) -> bool:
    return name in (*PYTHON_FILES, "package.json", "Cargo.toml", "go.mod") or is_requirements(name)


def files_to_read(entries: Sequence[TopFile]) -> list[str]:
    """The candidates worth reading: regular files within the size cap (the first requirements
    files only)."""
    wanted = [
        entry.name
        for entry in entries
        if _candidate(entry.name) and entry.regular and (entry.size or 0) <= MAX_FILE_BYTES
    ]
    requirements = sorted(name for name in wanted if is_requirements(name))
    return [
        name
        for name in wanted
        if not is_requirements(name) or name in requirements[:MAX_REQUIREMENTS_FILES]
    ]


def requirement_is_pytest(text: str) -> bool:
    """Whether a requirement (`pytest>=7`, `pytest[testing]`, `PyTest ; python_version>"3"`) names
    pytest itself."""
    text = text.strip().lower()
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] in "-_."):
        end += 1
    return text[:end].replace("_", "-").replace(".", "-") == "pytest"


def _names_pytest_in_lines(text: str) -> bool:
    """An ini-style file (setup.cfg, tox.ini) with a pytest section, or a word naming pytest
    (`deps = pytest>=7`, `commands = pytest {posargs}`, `tests_require = pytest`)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.lower() in PYTEST_SECTIONS:
            return True
        words = line.replace("=", " ").replace(",", " ").split()
        if any(requirement_is_pytest(word) for word in words):
            return True
    return False


def _requirements_name_pytest(text: str) -> bool:
    """A requirements file with a line requiring pytest (options such as `-r` are not followed)."""
    return any(
        requirement_is_pytest(line)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    )


def _pyproject_names_pytest(text: str) -> bool | None:
    """Whether pyproject.toml names pytest: a `pytest` key (`[tool.pytest.ini_options]`, a Poetry
    dependency) or a requirement string; None when it is not TOML the parser reads."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    stack: list[Any] = [data]
    looked = 0
    while stack and looked < MAX_NODES:
        node = stack.pop()
        looked += 1
        if isinstance(node, dict):
            if any(isinstance(key, str) and key.lower() == "pytest" for key in node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and requirement_is_pytest(node):
            return True
    return False


def _npm_test(text: str) -> bool | None:
    """Whether package.json has a real `scripts.test`; None when it is not JSON an object."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    scripts = data.get("scripts")
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return isinstance(test, str) and bool(test.strip()) and NPM_DEFAULT_TEST not in test


def _python(name: str, text: str) -> bool | None:
    if name == "pyproject.toml":
        return _pyproject_names_pytest(text)
    if name == "pytest.ini":
        return True  # pytest's own file
    if is_requirements(name):
        return _requirements_name_pytest(text)
    return _names_pytest_in_lines(text)


# What each file says, in the order a project's kind is looked for: a Python project that
# declares pytest, a package with a test script, a crate, a Go module.
DETECTORS: tuple[tuple[Callable[[str], bool], Callable[[str, str], bool | None], str], ...] = (
    (lambda name: name in PYTHON_FILES or is_requirements(name), _python, PYTEST),
    (lambda name: name == "package.json", lambda _, text: _npm_test(text), NPM),
    (lambda name: name == "Cargo.toml", lambda _, text: True, CARGO),
    (lambda name: name == "go.mod", lambda _, text: True, GO),
)


def _unread(entries: Sequence[TopFile]) -> list[str]:
    """Why candidate files were left unread, one phrase each."""
    notes = []
    for entry in entries:
        if not _candidate(entry.name):
            continue
        if not entry.regular:
            notes.append(f"`{entry.name}` is not a regular file (a link is never followed)")
        elif (entry.size or 0) > MAX_FILE_BYTES:
            notes.append(f"`{entry.name}` is over {MAX_FILE_BYTES // 1024} KB")
    return notes


def choose_command(
    *,
    configured: str,
    turned_off: bool,
    entries: Sequence[TopFile],
    texts: Mapping[str, str],
) -> CommandChoice:
    """The command the fix is verified with, and why; `texts` holds the `files_to_read`."""
    if turned_off:
        return CommandChoice("", f"verification is turned off in `{REPO_CONFIG_PATH}`.")
    if configured:
        return CommandChoice(configured, f"set in `{REPO_CONFIG_PATH}`")
    notes = _unread(entries)
    for applies, says, command in DETECTORS:
        for name in sorted(name for name in texts if applies(name)):
            found = says(name, texts[name])
            if found:
                return CommandChoice(command, f"detected from `{name}`")
            if found is None:
                notes.append(f"`{name}` could not be read")
    unread = f" ({'; '.join(notes)})" if notes else ""
    return CommandChoice(
        "",
        "no test command is set and none was detected at the top of the repository (a "
        "pyproject.toml, setup.cfg, tox.ini, pytest.ini or requirements file naming pytest, a "
        f"package.json test script, Cargo.toml, go.mod){unread}. Set `verify.command` in "
        f"`{REPO_CONFIG_PATH}` to have fixwright run the tests.",
    )
