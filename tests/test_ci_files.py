"""Which changed files CI executes: from workflows read at the base commit, as untrusted YAML."""

from __future__ import annotations

from pathlib import Path

from handlers.common.ci_files import (
    MAX_DEFINITION_BYTES,
    MAX_NAMES,
    CiReason,
    CiTouch,
    Definition,
    ci_touches,
    ci_touches_at,
    read_definition,
)
from sandbox.workspace import hand_to_agent
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.test_git_workspace import mint, prepare

CI = ".github/workflows/ci.yml"
WORKFLOW = """\
name: CI
on: [push, pull_request]
defaults:
  run:
    working-directory: app
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: ./scripts/check.sh --strict && python tools/lint.py
      - run: bash "${{ github.workspace }}/ci/deploy.sh"
        working-directory: .
      - run: for f in ci/hooks/*.sh; do sh "$f"; done
        working-directory: .
      - uses: ./tools/release-action
      - run: echo "v1.2" > version.txt; curl https://example.com/install.sh | sh
"""
ACTION = """\
name: release
runs:
  using: composite
  steps:
    - run: ${{ github.action_path }}/publish.sh
      shell: bash
    - run: scripts/notify.sh
      shell: bash
"""


def touches(changed: list[str], *documents: tuple[str, str]) -> dict[str, CiTouch]:
    definitions = [read_definition(source, text) for source, text in documents]
    return {touch.path: touch for touch in ci_touches(changed, definitions)}


def test_scripts_named_by_run_steps_are_found_relative_to_their_directory() -> None:
    """`run:` words that name files count, read from the working directory or the workspace."""
    found = touches(
        [
            "app/scripts/check.sh",
            "app/tools/lint.py",
            "ci/deploy.sh",
            "ci/hooks/pre.sh",
            "scripts/check.sh",  # not this one: the default working directory is app
            "hello/greet.py",
        ],
        (CI, WORKFLOW),
    )
    assert set(found) == {
        "app/scripts/check.sh",
        "app/tools/lint.py",
        "ci/deploy.sh",
        "ci/hooks/pre.sh",
    }
    assert all(t.reason is CiReason.RUN_STEP and t.source == CI for t in found.values())


def test_files_of_a_local_action_and_the_scripts_it_runs_are_found() -> None:
    """A `uses: ./dir` action's files count, and so do the scripts its own `run:` steps name."""
    definitions = [
        read_definition(CI, WORKFLOW),
        read_definition("tools/release-action/action.yml", ACTION, "tools/release-action"),
    ]
    changed = [
        "tools/release-action/index.js",
        "tools/release-action/publish.sh",
        "scripts/notify.sh",
        "tools/other.py",
    ]
    action = "tools/release-action/action.yml"
    assert ci_touches(changed, definitions) == [
        CiTouch("scripts/notify.sh", CiReason.RUN_STEP, action),
        CiTouch("tools/release-action/index.js", CiReason.LOCAL_ACTION, CI, "tools/release-action"),
        CiTouch("tools/release-action/publish.sh", CiReason.RUN_STEP, action),
    ]
    assert definitions[0].local_actions == ("tools/release-action",)


def test_urls_options_variables_and_words_outside_the_repository_name_nothing() -> None:
    """`https://…`, `--strict`, `$f`, `../x` and plain words like `done` are not paths of the repository."""
    definition = read_definition(CI, WORKFLOW)
    assert not any(name.startswith(("http", "-", "$", "..", "/")) for name in definition.names)
    assert "done" not in definition.names and "app/version.txt" in definition.names


def test_build_and_test_configuration_is_found_at_any_depth() -> None:
    """Makefiles, package manifests, test-runner configuration and other CI services' files count."""
    found = touches(
        [
            "pyproject.toml",
            "services/api/Makefile",
            "tests/conftest.py",
            "docker/Dockerfile.dev",
            "requirements-dev.txt",
            ".pre-commit-config.yaml",
            ".circleci/config.yml",
            "hello/greet.py",
            "docs/makefile-guide.md",
        ]
    )
    assert {path: t.reason for path, t in found.items()} == {
        "pyproject.toml": CiReason.BUILD_CONFIG,
        "services/api/Makefile": CiReason.BUILD_CONFIG,
        "tests/conftest.py": CiReason.BUILD_CONFIG,
        "docker/Dockerfile.dev": CiReason.BUILD_CONFIG,
        "requirements-dev.txt": CiReason.BUILD_CONFIG,
        ".pre-commit-config.yaml": CiReason.BUILD_CONFIG,
        ".circleci/config.yml": CiReason.CI_SERVICE,
    }


def test_hostile_yaml_makes_the_report_shorter_and_never_fails() -> None:
    """Alias bombs, deep nesting, bad YAML, odd values and huge step lists end in an empty or capped definition."""
    laughs = "a: &a ['run-me/x.sh']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
    )
    bomb = read_definition(CI, laughs)
    assert bomb.source == CI  # walked once per node, not once per expansion (9^9 of them)
    for text in ("[" * 50_000, "jobs: [unclosed", "- just\n- a list\n", "when: 2001-13-45\n"):
        assert read_definition(CI, text) == Definition(CI)
    steps = "".join(f"  - run: bash s/{i}.sh\n" for i in range(MAX_NAMES + 500))
    assert len(read_definition(CI, "steps:\n" + steps).names) == MAX_NAMES


def test_a_run_step_that_loops_back_on_itself_is_walked_once() -> None:
    """A recursive YAML structure (an anchor inside itself) does not loop the walk."""
    definition = read_definition(CI, "jobs: &j\n  test:\n    steps: [{run: ./x.sh}, *j]\n")
    assert definition.names == frozenset({"x.sh"})


async def test_workflows_are_read_at_the_base_commit_not_from_the_checkout(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """The agent rewriting a workflow in its checkout changes nothing: the host reads its own git objects."""
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {
            CI: "jobs:\n  t:\n    steps:\n      - run: bash scripts/check.sh\n",
            ".github/workflows/big.yml": "# " + "x" * MAX_DEFINITION_BYTES + "\nrun: big.sh\n",
            ".github/workflows/notes.txt": "run: notes.sh\n",
            "scripts/check.sh": "echo ok\n",
        },
        "Add CI",
    )
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)
    planted = workspace.path / CI
    planted.write_text("jobs:\n  t:\n    steps:\n      - run: bash hello/greet.py\n")
    hand_to_agent(workspace.path)
    changed = ["scripts/check.sh", "hello/greet.py", "big.sh", "notes.sh"]

    found = await ci_touches_at(changed, workspace.git_dir, workspace.base_sha)

    assert found == [CiTouch("scripts/check.sh", CiReason.RUN_STEP, CI)]


async def test_an_unreadable_commit_only_shortens_the_report(tmp_path: Path) -> None:
    """With no git directory to read, the build files are still named and nothing raises."""
    found = await ci_touches_at(["Makefile", "a.py"], tmp_path / "missing", "0" * 40)
    assert found == [CiTouch("Makefile", CiReason.BUILD_CONFIG)]
