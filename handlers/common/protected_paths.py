"""Paths a fix may not change: what the repository's CI runs with its secrets when a branch is pushed.

A push of the work branch to the base repository starts its `on: push` workflows, with the
repository's secrets, on the workflows as the pushed commit has them. So the agent's change must
leave workflows and actions alone; a repository adds its own paths in `.github/fixwright.yml`
(`protected_paths`), and can never take these away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.errors import JobFailed
from app.path_globs import fixed_directories, fold, matches_any
from handlers.common.untrusted_text import code_safe

# Workflows and actions run with the repository's secrets; fixwright's own settings decide who
# may trigger it and what it may touch, so the agent does not get to propose new ones either.
DEFAULT_PROTECTED_PATHS = (".github/workflows/**", ".github/actions/**", ".github/fixwright.yml")
PATHS_SHOWN = 20


def protected_patterns(repository_patterns: Iterable[str] = ()) -> tuple[str, ...]:
    """The defaults, then the repository's own patterns: a repository extends, never shrinks."""
    return tuple(dict.fromkeys((*DEFAULT_PROTECTED_PATHS, *repository_patterns)))


def protected_changes(changed: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The changed paths a pattern protects, sorted.

    A changed path that is one of a pattern's fixed directories counts too: a file or symlink
    put where `.github/workflows` was changes what sits at every path below it.
    """
    directories = {fold(d) for pattern in patterns for d in fixed_directories(pattern)}
    return sorted(
        path for path in set(changed) if fold(path) in directories or matches_any(patterns, path)
    )


def protected_paths_failure(paths: Sequence[str], patterns: Sequence[str]) -> JobFailed:
    """The failure that stops the push: which protected paths changed, and what to do instead."""
    shown = ", ".join(f"`{code_safe(path)}`" for path in paths[:PATHS_SHOWN])
    if len(paths) > PATHS_SHOWN:
        shown += f" and {len(paths) - PATHS_SHOWN} more"
    protected = ", ".join(f"`{code_safe(pattern)}`" for pattern in patterns)
    return JobFailed(
        f"Claude's change touches protected paths ({shown}), so nothing was pushed: CI runs "
        f"workflows and actions with the repository's secrets when a branch is pushed, and "
        f"fixwright's own settings are the maintainers' to change (protected: {protected}).",
        "A maintainer must make that part of the change by hand. To have fixwright do the rest, "
        "comment `/fix` with instructions to leave those files alone.",
    )


def refuse_protected_changes(changed: Iterable[str], repository_patterns: Iterable[str]) -> None:
    """Raise the named failure when the change touches a protected path; nothing is pushed then."""
    patterns = protected_patterns(repository_patterns)
    touched = protected_changes(changed, patterns)
    if touched:
        raise protected_paths_failure(touched, patterns)
