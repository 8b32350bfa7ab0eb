"""The test command: the repository's own, or detected from the files its base commit holds at the
top, read from the host's git directory as hostile input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from app.config import Settings
from handlers.fix.test_command import (
    CARGO,
    GO,
    MAX_FILE_BYTES,
    NPM,
    PYTEST,
    CommandChoice,
    TopFile,
    choose_command,
    files_to_read,
    requirement_is_pytest,
)
from handlers.fix.verify import choose_test_command
from sandbox.git_workspace import JobWorkspace


def detect(files: dict[str, str]) -> CommandChoice:
    """The choice for a top directory holding `files` (regular, within the cap)."""
    entries = [TopFile(name, True, len(text.encode())) for name, text in files.items()]
    wanted = files_to_read(entries)
    texts = {name: files[name] for name in wanted}
    return choose_command(configured="", turned_off=False, entries=entries, texts=texts)


@pytest.mark.parametrize(
    ("files", "command", "source"),
    [
        (
            {"pyproject.toml": '[project.optional-dependencies]\ntest = ["pytest>=8"]\n'},
            PYTEST,
            "pyproject.toml",
        ),
        (
            {"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n"},
            PYTEST,
            "pyproject.toml",
        ),
        (
            {"pyproject.toml": '[tool.poetry.group.dev.dependencies]\npytest = "^8"\n'},
            PYTEST,
            "pyproject.toml",
        ),
        (
            {"setup.cfg": "[options.extras_require]\ntesting =\n    pytest-cov\n    pytest\n"},
            PYTEST,
            "setup.cfg",
        ),
        ({"tox.ini": "[testenv]\ncommands = python -m pytest {posargs}\n"}, PYTEST, "tox.ini"),
        ({"pytest.ini": "[pytest]\n"}, PYTEST, "pytest.ini"),
        (
            {
                "requirements-dev.txt": "# tools\n-r requirements.txt\nPyTest==8.1 ; python_version > '3'\n"
            },
            PYTEST,
            "requirements-dev.txt",
        ),
        ({"package.json": json.dumps({"scripts": {"test": "jest"}})}, NPM, "package.json"),
        ({"Cargo.toml": '[package]\nname = "calc"\n'}, CARGO, "Cargo.toml"),
        ({"go.mod": "module example.com/calc\n"}, GO, "go.mod"),
        ({"pyproject.toml": "[project]\nname='x'\n", "go.mod": "module x\n"}, GO, "go.mod"),
    ],
)
def test_each_kind_of_project_is_detected_from_its_file(
    files: dict[str, str], command: str, source: str
) -> None:
    """A Python project naming pytest, a package with a test script, a crate, a Go module."""
    assert detect(files) == CommandChoice(command, f"detected from `{source}`")


@pytest.mark.parametrize(
    "files",
    [
        {"pyproject.toml": '[project]\nname = "x"\ndescription = "works with pytest"\n'},
        {"requirements.txt": "pytest-cov\nrequests\n"},
        {
            "package.json": json.dumps(
                {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
            )
        },
        {"package.json": json.dumps({"scripts": {"build": "tsc"}})},
        {"README.md": "Run pytest.\n"},
    ],
)
def test_a_file_that_does_not_declare_tests_chooses_nothing(files: dict[str, str]) -> None:
    """A description, a plugin alone, npm's default test script, no script: not verified."""
    choice = detect(files)
    assert choice.command == "" and "Set `verify.command`" in choice.why


def test_the_repositorys_own_command_and_verification_turned_off_come_first() -> None:
    """`verify.command` wins over any detection; `verify: false` runs nothing."""
    entries = [TopFile("go.mod", True, 10)]
    own = choose_command(configured="make check", turned_off=False, entries=entries, texts={})
    off = choose_command(configured="", turned_off=True, entries=entries, texts={})
    assert own == CommandChoice("make check", "set in `.github/fixwright.yml`")
    assert off.command == "" and "turned off" in off.why


def test_a_requirement_names_pytest_only_as_its_whole_name() -> None:
    """Extras, markers and versions are read past; plugins and look-alikes are not pytest."""
    assert requirement_is_pytest("pytest[testing]>=8 ; python_version>'3.8'")
    assert requirement_is_pytest("  PyTest")
    assert not requirement_is_pytest("pytest-cov")
    assert not requirement_is_pytest("pytest_asyncio")
    assert not requirement_is_pytest("mypytest")


def test_hostile_files_are_left_unread_and_said_to_be(tmp_path: Path) -> None:
    """Huge, deeply nested, or not JSON/TOML at all: nothing is detected, and the reason says why."""
    nested_json = "[" * 100_000 + "]" * 100_000
    nested_toml = "x = " + "[" * 50_000 + "]" * 50_000 + "\n"
    big = {"scripts": {"test": "jest"}, "pad": "x" * MAX_FILE_BYTES}
    files = {"package.json": nested_json, "pyproject.toml": nested_toml}
    entries = [TopFile(name, True, len(text)) for name, text in files.items()]
    entries.append(TopFile("Cargo.toml", True, MAX_FILE_BYTES + 1))
    choice = choose_command(configured="", turned_off=False, entries=entries, texts=files)
    assert choice.command == ""
    assert "`package.json` could not be read" in choice.why
    assert "`pyproject.toml` could not be read" in choice.why
    assert "`Cargo.toml` is over 256 KB" in choice.why
    assert files_to_read([TopFile("package.json", True, len(json.dumps(big)))]) == []


def git(*args: str, cwd: Path) -> str:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def workspace_with(tmp_path: Path, make: dict[str, str | Path]) -> JobWorkspace:
    """A host git directory whose default branch's base commit holds `make` (a Path is a link)."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git("init", "-q", "-b", "main", cwd=checkout)
    for name, content in make.items():
        target = checkout / name
        if isinstance(content, Path):
            target.symlink_to(content)
        else:
            target.write_text(content)
    git("add", "--all", cwd=checkout)
    git("commit", "-qm", "base", cwd=checkout)
    git("update-ref", "refs/remotes/origin/main", "HEAD", cwd=checkout)
    # The checkout is the agent's: what it holds now is never read, only the base commit.
    (checkout / "go.mod").write_text("module planted\n")
    return JobWorkspace(checkout, "fixwright/issue-1", "", False, "main", checkout / ".git")


async def test_a_link_in_place_of_package_json_is_never_followed(tmp_path: Path) -> None:
    """The base commit's package.json is a link to a file with a test script: not read, not used;
    and a file only the checkout holds (go.mod) is not seen."""
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"scripts": {"test": "jest"}}))
    workspace = workspace_with(tmp_path, {"package.json": outside, "README.md": "# x\n"})
    choice = await choose_test_command(Settings(), workspace)
    assert choice.command == ""
    assert "`package.json` is not a regular file" in choice.why


async def test_the_base_commits_pyproject_is_read_from_the_host_git_directory(
    tmp_path: Path,
) -> None:
    """Detection reads blobs of the base commit, through `git ls-tree` and `cat-file`."""
    workspace = workspace_with(tmp_path, {"pyproject.toml": "[tool.pytest.ini_options]\n"})
    choice = await choose_test_command(Settings(), workspace)
    assert choice == CommandChoice(PYTEST, "detected from `pyproject.toml`")
