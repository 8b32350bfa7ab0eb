"""How a repository describes its environment, read as untrusted text, each problem with its line."""

from __future__ import annotations

import pytest

from app.environment_config import (
    DEFAULT_KEY_FILES,
    EnvironmentConfig,
    EnvironmentConfigError,
    environment_from_devcontainer,
    environment_from_repo_config,
    without_comments,
)


def problems_of(call: object, text: str) -> list[str]:
    with pytest.raises(EnvironmentConfigError) as refused:
        call(text)  # type: ignore[operator]
    return [str(problem) for problem in refused.value.problems]


def test_the_repository_config_names_an_image_setup_and_key_files() -> None:
    """`environment:` with an image, one command or several, and the files that key the cache."""
    text = (
        "model: sonnet\n"
        "environment:\n"
        "  image: python:3.12-slim\n"
        "  setup: pip install pytest\n"
        "  cache_key_files: [requirements.txt, ./tools/../constraints.txt]\n"
        "  allow_hosts: [pypi.example]\n"
    )
    assert environment_from_repo_config(text) == EnvironmentConfig(
        source=".github/fixwright.yml",
        image="python:3.12-slim",
        setup=("pip install pytest",),
        cache_key_files=("requirements.txt", "constraints.txt"),
        allow_hosts=("pypi.example",),
    )


def test_a_dockerfile_builds_in_its_own_directory_and_lock_files_key_the_cache() -> None:
    """Without `cache_key_files`, the usual lock files are the key."""
    config = environment_from_repo_config("environment:\n  dockerfile: ci/env/Dockerfile\n")
    assert config is not None
    assert (config.dockerfile, config.context, config.setup) == ("ci/env/Dockerfile", "ci/env", ())
    assert config.cache_key_files == DEFAULT_KEY_FILES


def test_no_environment_key_means_none() -> None:
    """A file without `environment:` describes no environment (the devcontainer may)."""
    assert environment_from_repo_config("model: sonnet\n") is None
    assert environment_from_repo_config("") is None


def test_each_problem_names_the_line_it_is_on() -> None:
    """Unknown keys, both image and dockerfile, a path out of the repository, a bad command."""
    text = (
        "environment:\n"
        "  image: python:3.12\n"
        "  dockerfile: ../../etc/Dockerfile\n"
        "  setup: {run: x}\n"
        "  network: host\n"
    )
    assert problems_of(environment_from_repo_config, text) == [
        "`.github/fixwright.yml` line 5: unknown key `environment.network` (known: image, "
        "dockerfile, setup, cache_key_files, allow_hosts)",
        "`.github/fixwright.yml` line 3: `environment` takes `image` or `dockerfile`, not both",
        "`.github/fixwright.yml` line 3: `environment.dockerfile` must be a path in the repository",
        "`.github/fixwright.yml` line 4: `environment.setup` must be a command or a list of commands",
    ]
    assert problems_of(environment_from_repo_config, "environment:\n  image: [\n") == [
        "`.github/fixwright.yml` line 3: is not valid YAML"
    ]


def test_a_devcontainer_with_comments_and_a_dockerfile_becomes_an_environment() -> None:
    """Paths are the devcontainer directory's; lifecycle commands in every form become setup."""
    text = """{
      // the project's container
      "name": "app", /* a block
      comment */
      "build": {"dockerfile": "Dockerfile", "context": ".."},
      "onCreateCommand": ["pip", "install", "-e", ".[dev] extra"],
      "postCreateCommand": {"tools": "npm ci", "hooks": "echo 'a // not a comment'"},
    }"""
    assert environment_from_devcontainer(text) == EnvironmentConfig(
        source=".devcontainer/devcontainer.json",
        dockerfile=".devcontainer/Dockerfile",
        context=".",
        setup=("pip install -e '.[dev] extra'", "npm ci", "echo 'a // not a comment'"),
    )


def test_a_devcontainer_problem_names_its_line() -> None:
    """Invalid JSON at its line; a field of the wrong shape at its key's line."""
    assert problems_of(environment_from_devcontainer, '{\n  "image": "x",\n  oops\n}') == [
        "`.devcontainer/devcontainer.json` line 3: is not valid JSON"
    ]
    text = '{\n  "image": "python:3.12",\n  "postCreateCommand": 7\n}'
    assert problems_of(environment_from_devcontainer, text) == [
        "`.devcontainer/devcontainer.json` line 3: `postCreateCommand` must be a command"
    ]
    assert problems_of(environment_from_devcontainer, '{"build": {"dockerfile": "/etc/x"}}')


def test_comments_are_removed_in_linear_time_with_lines_kept() -> None:
    """A hostile file of unclosed comments and strings is read in one pass, lines where they were."""
    assert without_comments('{"a": 1, // x\n "b": [1, 2,],\n}') == '{"a": 1, \n "b": [1, 2]\n}'
    hostile = '"' + "\\" * 100_000 + "/*" * 100_000
    assert without_comments(hostile).startswith('"')
