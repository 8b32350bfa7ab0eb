"""The host's read of a tree the agent wrote: an lstat walk that follows no link and reads no `.git`.

Every name, link, mode and size in the tree is the agent's choice, so the walk opens each
directory and file relative to its parent's descriptor with `O_NOFOLLOW` (a link swapped in
for a directory or a file is never followed), confirms what it opened is what it listed, and
refuses, by path, what git must never be handed: a `.git` below the root (a nested repository,
or a `.git` file pointing anywhere), a device, FIFO or socket, a file or a total over the caps.
The root's own `.git` is the agent's scratch copy of the history and is never read at all.

Which new files count follows the repository's `.gitignore` files (read here, without git):
an ignored directory is not entered unless the baseline tracks files under it, and a file
tracked at the baseline always counts, ignored or not, as `git add --all` would have it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sandbox.gitignore import (
    IGNORE_FILE,
    IgnoreFileRefused,
    IgnorePattern,
    IgnoreRules,
    parse_ignore_file,
)
from sandbox.wildmatch import BudgetSpent, MatchBudget

MIB = 1024 * 1024
GIB = 1024 * MIB
# Deeper than this the walk would hold too many directories open; no real repository nests so.
MAX_DEPTH = 128
# All the `.gitignore` files read in one walk, together (each compiles to a small automaton).
MAX_IGNORE_BYTES = 512 * 1024
MAX_IGNORE_PATTERNS = 10_000
READ_CHUNK = MIB
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
MODE_FILE, MODE_EXECUTABLE, MODE_LINK = 0o100644, 0o100755, 0o120000


@dataclass(frozen=True)
class WalkLimits:
    """How much of the workspace the host reads: per file, in all, and how many files."""

    max_file_bytes: int = 50 * MIB  # GitHub warns above 50 MB and refuses above 100 MB
    max_total_bytes: int = 10 * GIB
    max_files: int = 1_000_000
    # Bytes of names the `.gitignore` automata may step over (about half a microsecond each):
    # names and patterns are both the agent's, so all the matching of one walk is capped.
    max_match_steps: int = 50_000_000


class Refusal(StrEnum):
    """What the host will not read from a workspace, or not commit from it."""

    NESTED_REPOSITORY = "nested_repository"
    SPECIAL_FILE = "special_file"
    FILE_TOO_LARGE = "file_too_large"
    TOO_MANY_BYTES = "too_many_bytes"
    TOO_MANY_FILES = "too_many_files"
    TOO_DEEP = "too_deep"
    UNREADABLE = "unreadable"
    IGNORE_RULES = "ignore_rules"
    CHANGES_TOO_LARGE = "changes_too_large"


class WorkspaceRefused(Exception):
    """The workspace holds something the host refuses; `path` says where, `what` says what."""

    def __init__(self, refusal: Refusal, path: str, what: str, limit: int = 0) -> None:
        self.refusal = refusal
        self.path = shown_path(path)
        self.what = what
        self.limit = limit
        super().__init__(f"{what} at {self.path}")


def shown_path(path: str) -> str:
    """A walked path fit for a message: names that are not UTF-8 get U+FFFD, not surrogates."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def is_dot_git(name: str) -> bool:
    """A name git takes for `.git` (any case; `.git.` and `git~1` as Windows would read them)."""
    folded = name.lower()
    return folded.rstrip(". ") == ".git" or folded == "git~1"


def megabytes(count: int) -> str:
    """A byte count for people: "50.0 MB", "10.0 GB"."""
    return f"{count / GIB:,.1f} GB" if count >= GIB else f"{count / MIB:,.1f} MB"


@dataclass(frozen=True)
class WorkspaceFile:
    """A file or symbolic link as git stores it: its path, its mode, its bytes (or link text)."""

    path: str  # relative, "/"-separated; names that are not UTF-8 kept as surrogates
    mode: int  # MODE_FILE, MODE_EXECUTABLE or MODE_LINK
    data: bytes


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "a file of an unknown kind"


def _ancestors(paths: Collection[str]) -> frozenset[str]:
    found: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        found.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return frozenset(found)


class _Walk:
    """One walk's caps and counters."""

    def __init__(
        self,
        limits: WalkLimits,
        tracked: Collection[str],
        skipped: Collection[str],
        on_nested: Callable[[str], None] | None,
    ) -> None:
        self.limits = limits
        self.tracked = frozenset(tracked)
        self.tracked_directories = _ancestors(self.tracked)
        self.skipped = frozenset(skipped)
        self.on_nested = on_nested
        self.files = 0
        self.bytes = 0
        self.patterns = 0
        self.ignore_bytes = 0
        self.budget = MatchBudget(limits.max_match_steps)

    def directory(
        self, fd: int, prefix: str, rules: IgnoreRules, ignored: bool, depth: int
    ) -> Iterator[WorkspaceFile]:
        try:
            names = sorted(os.listdir(fd))
        except OSError:
            raise WorkspaceRefused(
                Refusal.UNREADABLE, prefix or ".", "a directory fixwright could not list"
            ) from None
        nested = [name for name in names if is_dot_git(name) and (prefix or name != ".git")]
        if nested:
            if self.on_nested is not None and prefix:
                self.on_nested(prefix.removesuffix("/"))
                return
            raise WorkspaceRefused(
                Refusal.NESTED_REPOSITORY, prefix + nested[0], "a nested git repository"
            )
        if not ignored and IGNORE_FILE in names:
            rules = rules.with_patterns(self.ignore_patterns(fd, prefix))
        for name in names:
            path = prefix + name
            if (not prefix and name == ".git") or path in self.skipped:
                continue  # the agent's copy of the history; a submodule's place
            try:
                status = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError:
                raise WorkspaceRefused(
                    Refusal.UNREADABLE, path, "a file fixwright could not read"
                ) from None
            if stat.S_ISDIR(status.st_mode):
                inside_ignored = ignored or self.excluded(rules, path, True)
                if not inside_ignored or path in self.tracked_directories:
                    yield from self.subdirectory(fd, name, path, rules, inside_ignored, depth)
                continue
            if (ignored or self.excluded(rules, path, False)) and path not in self.tracked:
                continue
            yield self.entry(fd, name, path, status)

    def excluded(self, rules: IgnoreRules, path: str, is_directory: bool) -> bool:
        try:
            return rules.excluded(os.fsencode(path), is_directory, self.budget)
        except BudgetSpent:
            raise WorkspaceRefused(
                Refusal.IGNORE_RULES, path, "ignore patterns that take too much work to apply"
            ) from None

    def subdirectory(
        self, fd: int, name: str, path: str, rules: IgnoreRules, ignored: bool, depth: int
    ) -> Iterator[WorkspaceFile]:
        if depth >= MAX_DEPTH:
            raise WorkspaceRefused(
                Refusal.TOO_DEEP, path, f"directories nested more than {MAX_DEPTH} deep"
            )
        try:
            child = os.open(name, DIRECTORY_FLAGS, dir_fd=fd)
        except OSError:
            raise WorkspaceRefused(
                Refusal.UNREADABLE, path, "a directory fixwright could not open"
            ) from None
        try:
            yield from self.directory(child, path + "/", rules, ignored, depth + 1)
        finally:
            os.close(child)

    def entry(self, fd: int, name: str, path: str, status: os.stat_result) -> WorkspaceFile:
        self.files += 1
        if self.files > self.limits.max_files:
            raise WorkspaceRefused(
                Refusal.TOO_MANY_FILES,
                path,
                f"more than {self.limits.max_files:,} files",
                self.limits.max_files,
            )
        if stat.S_ISLNK(status.st_mode):
            try:
                target = os.fsencode(os.readlink(name, dir_fd=fd))
            except OSError:
                raise WorkspaceRefused(
                    Refusal.UNREADABLE, path, "a link fixwright could not read"
                ) from None
            self.count_bytes(path, len(target))
            return WorkspaceFile(path, MODE_LINK, target)
        if not stat.S_ISREG(status.st_mode):
            raise WorkspaceRefused(Refusal.SPECIAL_FILE, path, _special_kind(status.st_mode))
        data = self.read(fd, name, path, status, self.limits.max_file_bytes)
        self.count_bytes(path, len(data))
        executable = status.st_mode & stat.S_IXUSR
        return WorkspaceFile(path, MODE_EXECUTABLE if executable else MODE_FILE, data)

    def count_bytes(self, path: str, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_total_bytes:
            limit = self.limits.max_total_bytes
            raise WorkspaceRefused(
                Refusal.TOO_MANY_BYTES, path, f"more than {megabytes(limit)} of files", limit
            )

    def read(self, fd: int, name: str, path: str, listed: os.stat_result, limit: int) -> bytes:
        """The bytes of the regular file listed as `listed`, refused when over `limit`."""
        too_large = WorkspaceRefused(
            Refusal.FILE_TOO_LARGE, path, f"a file over the limit of {megabytes(limit)}", limit
        )
        if listed.st_size > limit:
            raise too_large
        try:
            file = os.open(name, _FILE_FLAGS, dir_fd=fd)
        except OSError:
            raise WorkspaceRefused(
                Refusal.UNREADABLE, path, "a file fixwright could not open"
            ) from None
        try:
            opened = os.fstat(file)
            if not stat.S_ISREG(opened.st_mode) or opened.st_ino != listed.st_ino:
                raise WorkspaceRefused(
                    Refusal.UNREADABLE, path, "a file that changed as it was read"
                )
            data = bytearray()
            while chunk := os.read(file, READ_CHUNK):
                data += chunk
                if len(data) > limit:
                    raise too_large
            return bytes(data)
        finally:
            os.close(file)

    def ignore_patterns(self, fd: int, prefix: str) -> list[IgnorePattern]:
        """The patterns of this directory's `.gitignore`; a link or anything but a file is skipped."""
        path = prefix + IGNORE_FILE
        try:
            status = os.stat(IGNORE_FILE, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return []  # gone: the listing below will not find it either
        if not stat.S_ISREG(status.st_mode):
            return []  # as git, which does not follow a `.gitignore` that is a link
        try:
            text = self.read(fd, IGNORE_FILE, path, status, MAX_IGNORE_BYTES - self.ignore_bytes)
        except WorkspaceRefused as error:
            if error.refusal is not Refusal.FILE_TOO_LARGE:
                raise
            raise WorkspaceRefused(
                Refusal.IGNORE_RULES,
                path,
                f"more than {megabytes(MAX_IGNORE_BYTES)} of ignore files in all",
            ) from None
        self.ignore_bytes += len(text)
        try:
            patterns = parse_ignore_file(
                text, os.fsencode(prefix), max_patterns=MAX_IGNORE_PATTERNS - self.patterns
            )
        except IgnoreFileRefused as error:
            raise WorkspaceRefused(Refusal.IGNORE_RULES, path, str(error)) from None
        self.patterns += len(patterns)
        return patterns


def read_workspace(
    root: Path,
    *,
    limits: WalkLimits,
    tracked: Collection[str] = (),
    skipped: Collection[str] = (),
    on_nested: Callable[[str], None] | None = None,
) -> Generator[WorkspaceFile, None, None]:
    """Every file and link under `root` that git would take, one at a time, in path order.

    `tracked` are the baseline's file paths (always considered, ignored or not); `skipped` are
    paths never looked at (the baseline's submodules). A directory holding a `.git` is refused
    with `WorkspaceRefused`, or, when `on_nested` is given, handed to it and left unread.
    """
    walk = _Walk(limits, tracked, skipped, on_nested)
    fd = os.open(root, DIRECTORY_FLAGS)
    try:
        yield from walk.directory(fd, "", IgnoreRules(), False, 0)
    finally:
        os.close(fd)
