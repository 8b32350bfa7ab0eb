"""Protected paths: the glob matcher, which changes a fix may not push, and no workflows permission."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from app.errors import JobFailed
from app.path_globs import fixed_directories, glob_match, pattern_problem
from handlers import build_registry, fix, review
from handlers.common.protected_paths import (
    DEFAULT_PROTECTED_PATHS,
    protected_changes,
    protected_patterns,
    refuse_protected_changes,
)

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"
DEADLINE_SECONDS = 60


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        (".github/workflows/**", ".github/workflows/ci.yml", True),
        (".github/workflows/**", ".github/workflows/nested/deep/x.yaml", True),
        (".github/workflows/**", ".github/workflows-old/ci.yml", False),
        (".github/workflows/**", "docs/.github/workflows/ci.yml", False),
        ("deploy/*.sh", "deploy/release.sh", True),
        ("deploy/*.sh", "deploy/sub/release.sh", False),
        ("**/secrets.env", "secrets.env", True),
        ("**/secrets.env", "a/b/secrets.env", True),
        ("**/secrets.env", "notsecrets.env", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/xb", False),
        ("v?.txt", "v1.txt", True),
        ("v?.txt", "v/.txt", False),
        ("Makefile", "Makefile", True),
        ("Makefile", "src/Makefile", False),
    ],
)
def test_the_glob_syntax_means_what_the_readme_says(
    pattern: str, path: str, expected: bool
) -> None:
    """`*` stays within a segment, `**` crosses them, `**/` may be no directory, `?` is one character."""
    assert glob_match(pattern, path) is expected


def test_letter_case_and_compatibility_forms_are_ignored() -> None:
    """Case is ignored, as a case-insensitive runner ignores it, and so are fullwidth letters."""
    assert glob_match(".github/workflows/**", ".GitHub/WORKFLOWS/ci.yml")
    assert glob_match(".github/workflows/**", ".github/workflows/\uff43i.yml")
    assert glob_match("deploy/**", "DEPLOY/run.sh")


def test_a_long_hostile_name_is_matched_without_backtracking() -> None:
    """Names and patterns that make a backtracking matcher run for hours are answered at once."""
    hostile = [
        ("*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 100_000, False),
        ("**a**a**a**a**a**a**a**a**b", "a/" * 50_000, False),
        ("**/**/**/**/**/**/**/x", "a/" * 50_000 + "x", True),
        ("?*?*?*?*?*?*?*?*?*?*!", "ab" * 50_000, False),
    ]
    answers: list[bool] = []
    worker = threading.Thread(
        target=lambda: answers.extend(glob_match(p, name) for p, name, _ in hostile), daemon=True
    )
    worker.start()
    worker.join(DEADLINE_SECONDS)
    assert answers == [expected for _, _, expected in hostile]


def test_bad_patterns_are_named_and_good_ones_pass() -> None:
    """Brackets, braces, a leading slash, `..` and empty segments are refused with the reason."""
    assert pattern_problem("deploy/**") is None
    assert pattern_problem("**/*.sh") is None
    assert "only `*`, `**` and `?`" in str(pattern_problem("src/{a,b}/**"))
    assert "only `*`, `**` and `?`" in str(pattern_problem("[ab].sh"))
    assert "starts with `/`" in str(pattern_problem("/deploy"))
    assert "`..`" in str(pattern_problem("a/../b"))
    assert "empty" in str(pattern_problem("a//b"))
    assert "non-empty" in str(pattern_problem(""))
    assert "non-empty" in str(pattern_problem(3))
    assert "longer than" in str(pattern_problem("a" * 500))
    assert "control character" in str(pattern_problem("a\nb"))


def test_the_defaults_cover_workflows_and_actions_and_cannot_be_taken_away() -> None:
    """The repository's patterns come after fixwright's; an empty or repeating list leaves them all."""
    assert DEFAULT_PROTECTED_PATHS == (
        ".github/workflows/**",
        ".github/actions/**",
        ".github/fixwright.yml",
    )
    assert protected_patterns(()) == DEFAULT_PROTECTED_PATHS
    assert protected_patterns(["deploy/**", ".github/workflows/**"]) == (
        *DEFAULT_PROTECTED_PATHS,
        "deploy/**",
    )


def test_changed_workflows_actions_and_their_directories_are_protected() -> None:
    """Workflow and action files, fixwright's own settings, and a file put where their directory
    was, are caught; others pass."""
    changed = [
        "hello/greet.py",
        ".github/fixwright.yml",
        ".github/workflows/ci.yml",
        ".github/actions/setup/action.yml",
        ".github/dependabot.yml",
        ".github",  # a symlink or file in place of the directory
        ".github/Workflows",
        "scripts/check.sh",
    ]
    assert protected_changes(changed, DEFAULT_PROTECTED_PATHS) == [
        ".github",
        ".github/Workflows",
        ".github/actions/setup/action.yml",
        ".github/fixwright.yml",
        ".github/workflows/ci.yml",
    ]
    assert fixed_directories(".github/workflows/**") == [".github", ".github/workflows"]


def test_the_failure_names_the_changed_paths_and_what_to_do() -> None:
    """The job fails with every protected path that changed, the patterns, and a maintainer's next step."""
    with pytest.raises(JobFailed) as raised:
        refuse_protected_changes(
            ["hello/greet.py", ".github/workflows/ci.yml", "deploy/we`ird.sh"], ["deploy/**"]
        )
    reason, next_step = raised.value.reason, raised.value.next_step
    assert "`.github/workflows/ci.yml`" in reason and "`deploy/we'ird.sh`" in reason
    assert "hello/greet.py" not in reason
    assert "nothing was pushed" in reason and "`deploy/**`" in reason
    assert "maintainer must make that part of the change by hand" in next_step
    refuse_protected_changes(["hello/greet.py", "README.md"], ["deploy/**"])  # no error


def test_hundreds_of_protected_changes_are_counted_not_all_listed() -> None:
    """A change to many workflow files names the first ones and says how many more."""
    changed = [f".github/workflows/w{i:03}.yml" for i in range(250)]
    with pytest.raises(JobFailed) as raised:
        refuse_protected_changes(changed, ())
    assert "`.github/workflows/w019.yml`" in raised.value.reason
    assert "w020" not in raised.value.reason and "and 230 more" in raised.value.reason


def test_the_app_never_asks_for_the_workflows_permission() -> None:
    """Neither the manifest nor any job kind's installation token includes `workflows`."""
    granted = yaml.safe_load(MANIFEST.read_text())["default_permissions"]
    assert "workflows" not in granted
    assert "workflows" not in fix.KIND.permissions and "workflows" not in review.KIND.permissions
    kinds = build_registry().kinds.values()
    assert kinds and all("workflows" not in kind.permissions for kind in kinds)
