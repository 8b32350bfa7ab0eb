"""Which changed files CI executes: scripts its workflows run, local actions, build and test set-up.

Workflows are read at the commit the agent started from, from the host's own git directory:
what the agent left in the checkout never decides what is reported about it. The files are the
repository's, so they are parsed as untrusted input: size-capped, with a safe loader, walked with
a budget. A file that cannot be read only makes the report shorter; it never fails the job.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
import yaml
from structlog.typing import FilteringBoundLogger

from app.path_globs import fold, matches_any
from handlers.common.untrusted_text import code_safe
from sandbox.git_errors import GitError
from sandbox.git_tree import TreeEntry, list_tree, read_blob

log: FilteringBoundLogger = structlog.get_logger(__name__)

WORKFLOWS_DIRECTORY = ".github/workflows/"
WORKFLOW_SUFFIXES = (".yml", ".yaml")
ACTION_FILES = ("action.yml", "action.yaml")
MAX_DEFINITION_BYTES = 128 * 1024
MAX_TOTAL_BYTES = 512 * 1024
MAX_DEFINITIONS = 40
MAX_NODES = 20_000  # YAML nodes walked per file: aliases can make a small file a huge tree
MAX_NAMES = 2_000  # paths named per file
MAX_GLOBS = 20  # wildcard paths named per file (each is matched against every changed file)
MAX_WORD_LENGTH = 300

# Build and test configuration, by file name at any depth: what `make`, a package install or a
# test runner executes or loads before any test runs.
BUILD_AND_TEST_FILES = (
    *("Makefile", "GNUmakefile", "*.mk", "CMakeLists.txt", "meson.build", "build.rs"),
    *("build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "pom.xml"),
    *("Rakefile", "justfile", "Taskfile.yml", "BUILD", "BUILD.bazel", "WORKSPACE", "*.bzl"),
    *("Dockerfile", "Dockerfile.*", "*.dockerfile", "docker-compose.yml", "compose.yaml"),
    *("package.json", "pyproject.toml", "setup.py", "setup.cfg", "Cargo.toml", "go.mod"),
    *("Gemfile", "*.gemspec", "composer.json", "requirements*.txt", "Pipfile"),
    *("conftest.py", "pytest.ini", "tox.ini", "noxfile.py", "jest.config.*", "vitest.config.*"),
    ".pre-commit-config.yaml",
)
# Other CI services, which start on a push as workflows do (paths from the repository root).
CI_SERVICE_FILES = (
    *(".gitlab-ci.yml", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".drone.yml"),
    *("bitbucket-pipelines.yml", ".circleci/**", ".buildkite/**"),
)

_BUILD_NAMES = frozenset(fold(name) for name in BUILD_AND_TEST_FILES if "*" not in name)
_BUILD_GLOBS = tuple(name for name in BUILD_AND_TEST_FILES if "*" in name)
# Shell words are split at blanks, operators and quotes: one character class, so linear.
_WORD_SEPARATORS = re.compile(r"[\s;|&()<>`'\"=,]+")
_WORKSPACE = re.compile(r"\$\{\{\s*github\.workspace\s*\}\}|\$\{GITHUB_WORKSPACE\}", re.I)
_ACTION_PATH = re.compile(r"\$\{\{\s*github\.action_path\s*\}\}|\$\{GITHUB_ACTION_PATH\}", re.I)


class CiReason(StrEnum):
    RUN_STEP = "run_step"  # named by a `run:` step of `source`
    LOCAL_ACTION = "local_action"  # inside the local action `source` uses
    CI_SERVICE = "ci_service"  # another CI service's configuration
    BUILD_CONFIG = "build_config"  # build or test configuration


@dataclass(frozen=True)
class CiTouch:
    """A changed file CI executes, and why fixwright thinks so."""

    path: str
    reason: CiReason
    source: str = ""  # the workflow or action file that runs it
    action: str = ""  # the local action's directory, for LOCAL_ACTION


@dataclass(frozen=True)
class Definition:
    """What one workflow or action file runs: the paths its `run:` steps name, its local actions."""

    source: str
    names: frozenset[str] = frozenset()  # folded paths of files or directories
    globs: tuple[str, ...] = ()
    local_actions: tuple[str, ...] = ()


def ci_touches(changed: Iterable[str], definitions: Sequence[Definition]) -> list[CiTouch]:
    """The changed files CI executes, each with its first reason, sorted by path."""
    touches = []
    for path in sorted(set(changed)):
        touch = _touch(path, definitions)
        if touch is not None:
            touches.append(touch)
    return touches


def _touch(path: str, definitions: Sequence[Definition]) -> CiTouch | None:
    folded = fold(path)
    ancestors = {folded, *_ancestors(folded)}
    for definition in definitions:
        if not ancestors.isdisjoint(definition.names) or matches_any(definition.globs, path):
            return CiTouch(path, CiReason.RUN_STEP, definition.source)
    for definition in definitions:
        for action in definition.local_actions:
            if fold(action) in ancestors:
                return CiTouch(path, CiReason.LOCAL_ACTION, definition.source, action)
    if matches_any(CI_SERVICE_FILES, path):
        return CiTouch(path, CiReason.CI_SERVICE)
    name = posixpath.basename(path)
    if fold(name) in _BUILD_NAMES or matches_any(_BUILD_GLOBS, name):
        return CiTouch(path, CiReason.BUILD_CONFIG)
    return None


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: depth + 1]) for depth in range(len(parts))]


def read_definition(source: str, text: str, action_directory: str = "") -> Definition:
    """What the workflow (or the action, in `action_directory`) in `text` runs; empty if unreadable."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError):
        # Malformed, nested past the recursion limit, or a value no type holds: unreadable.
        return Definition(source)
    if not isinstance(document, dict):
        return Definition(source)
    names: set[str] = set()
    globs: list[str] = []
    actions: list[str] = []
    for node, directory in _mappings(document):
        run = node.get("run")
        if isinstance(run, str):
            step_directory = _directory(node.get("working-directory"), directory)
            for path in _named_paths(run, step_directory, action_directory):
                if any(char in path for char in "*?"):
                    globs.append(path)
                else:
                    names.add(fold(path))
        uses = node.get("uses")
        if isinstance(uses, str) and uses.startswith("./"):
            action = _relative(uses.split("@", 1)[0])
            if action:
                actions.append(action)
    return Definition(
        source,
        frozenset(sorted(names)[:MAX_NAMES]),
        tuple(dict.fromkeys(globs))[:MAX_GLOBS],
        tuple(dict.fromkeys(actions)),
    )


def _mappings(document: Any) -> Iterable[tuple[dict[Any, Any], str]]:
    """Every mapping in the document once, with the `working-directory` its `defaults` give."""
    stack: list[tuple[Any, str]] = [(document, "")]
    seen: set[int] = set()
    budget = MAX_NODES
    while stack and budget > 0:
        node, directory = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        budget -= 1
        if isinstance(node, dict):
            directory = _default_directory(node, directory)
            yield node, directory
            children: Iterable[Any] = node.values()
        else:
            children = node
        stack.extend((child, directory) for child in children if isinstance(child, dict | list))


def _default_directory(node: dict[Any, Any], inherited: str) -> str:
    defaults = node.get("defaults")
    run = defaults.get("run") if isinstance(defaults, dict) else None
    return (
        _directory(run.get("working-directory"), inherited) if isinstance(run, dict) else inherited
    )


def _directory(value: Any, inherited: str) -> str:
    """A `working-directory` as a root-relative path ("" for the root); `inherited` when unset."""
    return _relative(value) if isinstance(value, str) else inherited


def _named_paths(script: str, directory: str, action_directory: str) -> list[str]:
    """The repository paths a shell script names: words that look like paths, made root-relative."""
    script = _WORKSPACE.sub("$GITHUB_WORKSPACE", script)
    script = _ACTION_PATH.sub("$GITHUB_ACTION_PATH", script)
    paths = []
    for word in _WORD_SEPARATORS.split(script):
        base = directory
        if word.startswith("$GITHUB_WORKSPACE/"):
            base, word = "", word.removeprefix("$GITHUB_WORKSPACE/")
        elif word.startswith("$GITHUB_ACTION_PATH/") and action_directory:
            base, word = action_directory, word.removeprefix("$GITHUB_ACTION_PATH/")
        if len(word) > MAX_WORD_LENGTH or not any(char in word for char in "./"):
            continue
        if word.startswith("-") or "$" in word or "{" in word or "://" in word:
            continue
        path = _relative(posixpath.join(base, word))
        if path:
            paths.append(path)
    return paths


def _relative(value: Any) -> str:
    """`value` as a path inside the repository (`./a/../b/` is `b`), or "" if it is none."""
    if not isinstance(value, str) or not value.strip() or value.startswith("/"):
        return ""
    path = posixpath.normpath(value.strip())
    if path == "." or path == ".." or path.startswith("../") or "${{" in path:
        return ""
    return path


async def ci_touches_at(changed: Sequence[str], git_dir: Path, commit: str) -> list[CiTouch]:
    """The changed files CI executes, by the workflows of `commit` in the host's git directory.

    Workflows that cannot be read are left out (and logged): the report says less, the job goes on.
    """
    return await asyncio.to_thread(_ci_touches_at, changed, git_dir, commit)


def _ci_touches_at(changed: Sequence[str], git_dir: Path, commit: str) -> list[CiTouch]:
    try:
        definitions = _load_definitions(git_dir, commit)
    except GitError as error:
        log.warning("ci_files.unreadable", commit=commit, error=str(error))
        definitions = []
    return ci_touches(changed, definitions)


def _load_definitions(git_dir: Path, commit: str) -> list[Definition]:
    budget = _Budget()
    workflows = [
        entry
        for entry in list_tree(git_dir, commit, [WORKFLOWS_DIRECTORY])
        if entry.path.endswith(WORKFLOW_SUFFIXES)
    ]
    definitions = [
        read_definition(entry.path, text) for entry, text in budget.read(git_dir, workflows)
    ]
    actions = sorted({action for d in definitions for action in d.local_actions})
    wanted = [f"{action}/{name}" for action in actions[:MAX_DEFINITIONS] for name in ACTION_FILES]
    action_files = list_tree(git_dir, commit, wanted) if wanted else []
    for entry, text in budget.read(git_dir, action_files):
        definitions.append(read_definition(entry.path, text, posixpath.dirname(entry.path)))
    return definitions


@dataclass
class _Budget:
    """How many more files and bytes may be read for one job."""

    files: int = MAX_DEFINITIONS
    size: int = MAX_TOTAL_BYTES

    def read(self, git_dir: Path, entries: Sequence[TreeEntry]) -> list[tuple[TreeEntry, str]]:
        read = []
        for entry in entries:
            size = entry.size
            if not entry.is_regular_file or size is None or size > MAX_DEFINITION_BYTES:
                continue
            if self.files <= 0 or size > self.size:
                break
            self.files, self.size = self.files - 1, self.size - size
            read.append((entry, read_blob(git_dir, entry.sha)))
        return read


CI_TOUCHES_SHOWN = 30
CI_NOTICE = (
    "**This change touches files that CI executes.** CI runs them, with the repository's "
    "secrets, when it runs this branch or this pull request; read them before it does."
)


def render_ci_notice(touches: Sequence[CiTouch]) -> str:
    """A warning that names each changed file CI executes and why (for the PR and the thread)."""
    rows = [f"> - `{code_safe(touch.path)}`: {_why(touch)}" for touch in touches[:CI_TOUCHES_SHOWN]]
    if len(touches) > CI_TOUCHES_SHOWN:
        rows.append(f"> - … and {len(touches) - CI_TOUCHES_SHOWN} more")
    return "> [!WARNING]\n> " + CI_NOTICE + "\n>\n" + "\n".join(rows)


def _why(touch: CiTouch) -> str:
    source = f"`{code_safe(touch.source)}`"
    if touch.reason == CiReason.RUN_STEP:
        return f"named by a `run:` step in {source}"
    if touch.reason == CiReason.LOCAL_ACTION:
        return f"part of the local action `./{code_safe(touch.action)}` that {source} uses"
    if touch.reason == CiReason.CI_SERVICE:
        return "configuration of a CI service"
    return "build or test configuration"
