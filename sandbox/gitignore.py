"""`.gitignore` files read as git reads them, matched without running git (`dir.c`, in Python).

The host decides which new files the agent's change includes, as `git add --all` would, but it
never runs git over the agent's tree to do it. The files and their patterns are the agent's too,
so they are capped, and matching never backtracks (see `sandbox.wildmatch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.wildmatch import Glob, MatchBudget

IGNORE_FILE = ".gitignore"
MAX_PATTERN_BYTES = 4096  # a path is at most this long, so a longer pattern is no pattern
_UTF8_BOM = b"\xef\xbb\xbf"
_GLOB_SPECIAL = b"*?[\\"


class IgnoreFileRefused(ValueError):
    """A `.gitignore` holds what the host will not read; the message says what."""


@dataclass(frozen=True)
class IgnorePattern:
    """One line of a `.gitignore`, parsed as git's `parse_path_pattern` does."""

    base: bytes  # the directory of the `.gitignore`, "" or ending in "/"
    negative: bool  # `!pattern`: re-include
    directory_only: bool  # `pattern/`: matches directories only
    basename_only: bool  # no slash but a trailing one: matches the name at any depth
    prefix: bytes  # the literal start, compared as is (as git does, before globbing the rest)
    rest: Glob

    def matches(self, path: bytes, is_directory: bool, budget: MatchBudget | None = None) -> bool:
        """Whether this pattern matches `path` (relative to the repository root)."""
        if (self.directory_only and not is_directory) or not path.startswith(self.base):
            return False
        if self.basename_only:
            return self.rest.matches(path.rpartition(b"/")[2], budget)
        name = path[len(self.base) :]
        if not name.startswith(self.prefix):
            return False
        return self.rest.matches(name[len(self.prefix) :], budget)


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Drop trailing spaces unless escaped with a backslash (git's `trim_trailing_spaces`)."""
    last_space = None
    i = 0
    while i < len(line):
        byte = line[i : i + 1]
        if byte == b" ":
            last_space = i if last_space is None else last_space
        elif byte == b"\\":
            i += 1
            if i >= len(line):
                return line
            last_space = None
        else:
            last_space = None
        i += 1
    return line if last_space is None else line[:last_space]


def _simple_length(pattern: bytes) -> int:
    """The length of the literal start of `pattern`, up to its first glob character."""
    return next((i for i, byte in enumerate(pattern) if byte in _GLOB_SPECIAL), len(pattern))


def parse_pattern(line: bytes, base: bytes) -> IgnorePattern:
    """One pattern (comments and blank lines already dropped) of the `.gitignore` in `base`."""
    negative = line.startswith(b"!")
    body = line[1:] if negative else line
    directory_only = body.endswith(b"/")
    if directory_only:
        body = body[:-1]
    basename_only = b"/" not in body
    if basename_only:
        return IgnorePattern(base, negative, directory_only, True, b"", Glob(body))
    body = body.removeprefix(b"/")
    cut = _simple_length(body)
    return IgnorePattern(base, negative, directory_only, False, body[:cut], Glob(body[cut:]))


def parse_ignore_file(
    text: bytes, base: bytes, max_patterns: int | None = None
) -> list[IgnorePattern]:
    """The patterns of one `.gitignore` whose directory is `base` ("" or "dir/")."""
    patterns: list[IgnorePattern] = []
    for raw in text.removeprefix(_UTF8_BOM).split(b"\n"):
        if not raw or raw.startswith(b"#"):
            continue
        line = _trim_trailing_spaces(raw.removesuffix(b"\r").partition(b"\0")[0])
        if len(line) > MAX_PATTERN_BYTES:
            raise IgnoreFileRefused(f"a pattern longer than {MAX_PATTERN_BYTES:,} bytes")
        if max_patterns is not None and len(patterns) >= max_patterns:
            raise IgnoreFileRefused("more ignore patterns than fixwright reads")
        patterns.append(parse_pattern(line, base))
    return patterns


@dataclass(frozen=True)
class IgnoreRules:
    """The patterns in force in one directory: its own `.gitignore` over its parents' ones."""

    layers: tuple[tuple[IgnorePattern, ...], ...] = ()  # the root's first

    def with_patterns(self, patterns: Sequence[IgnorePattern]) -> IgnoreRules:
        """These rules with a deeper directory's patterns on top."""
        return IgnoreRules((*self.layers, tuple(patterns))) if patterns else self

    def excluded(self, path: bytes, is_directory: bool, budget: MatchBudget | None = None) -> bool:
        """Whether `path` is ignored: the deepest file decides, and in it the last match.

        Raises `sandbox.wildmatch.BudgetSpent` once `budget` is used up.
        """
        for layer in reversed(self.layers):
            for pattern in reversed(layer):
                if pattern.matches(path, is_directory, budget):
                    return not pattern.negative
        return False
