"""Glob patterns over paths anyone may have chosen, matched in linear time (no backtracking).

The names matched here are written by the agent or the repository, so a matcher that backtracks
(a regular expression translated from `*a*a*a*b`) could be made to run for hours by one long
name. This one walks the name once, carrying the set of pattern positions still alive: its work
is at most the name's length times the pattern's.

Syntax: `*` is any run of characters but `/`, `?` one character but `/`, `**` any run of
characters (slashes too), and `**/` at the start of a segment any number of whole directories,
none included. Every other character stands for itself. A pattern is anchored at the
repository root.

Letter case is ignored, and so are Unicode compatibility forms: GitHub's paths are
case-sensitive, but CI checks a branch out onto macOS and Windows runners too, whose file
systems take `.GitHub/Workflows/ci.yml` and `.github/workflows/ci.yml` for one file. Matching
too much only asks a maintainer to look; matching too little lets a file through.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MAX_PATTERN_LENGTH = 200
# Brackets, braces, negation and escapes are not supported; refused rather than read literally,
# so nobody believes `{a,b}` protects what it does not.
UNSUPPORTED = "[]{}!\\"
WILDCARDS = "*?"

_LITERAL, _ONE, _STAR, _ANY, _ANY_DIRS = range(5)
_SKIPPABLE = (_STAR, _ANY, _ANY_DIRS)
Token = tuple[int, str]


def fold(text: str) -> str:
    """`text` as the matcher compares it: compatibility forms composed, letter case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def pattern_problem(pattern: object) -> str | None:
    """Why `pattern` cannot be used as a path pattern, in words, or None when it can."""
    if not isinstance(pattern, str) or not pattern.strip():
        return "must be a non-empty text"
    if pattern != pattern.strip():
        return "starts or ends with a space"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    if any(not char.isprintable() for char in pattern):
        return "contains a control character"
    unsupported = sorted({char for char in pattern if char in UNSUPPORTED})
    if unsupported:
        return f"uses `{''.join(unsupported)}`: only `*`, `**` and `?` are supported"
    if pattern.startswith("/"):
        return "starts with `/`: patterns are relative to the repository root already"
    if any(segment in ("", ".", "..") for segment in pattern.rstrip("/").split("/")):
        return "has an empty, `.` or `..` segment"
    return None


def fixed_directories(pattern: str) -> list[str]:
    """The directories every match of `pattern` lies in: `a/b/*.sh` gives `a` and `a/b`."""
    segments = pattern.split("/")[:-1]
    fixed: list[str] = []
    for segment in segments:
        if any(char in WILDCARDS for char in segment):
            break
        fixed.append(f"{fixed[-1]}/{segment}" if fixed else segment)
    return fixed


def glob_match(pattern: str, path: str) -> bool:
    """Whether all of `path` matches `pattern`, in time linear in the length of `path`."""
    return _matches(pattern, fold(path))


def matches_any(patterns: Iterable[str], path: str) -> bool:
    """Whether `path` matches one of `patterns` (folded once, however many there are)."""
    text = fold(path)
    return any(_matches(pattern, text) for pattern in patterns)


def _matches(pattern: str, text: str) -> bool:
    prefix, tokens = _compile(pattern)
    if not text.startswith(prefix):  # most patterns begin with a fixed directory: a quick no
        return False
    states = _closure({2 * len(prefix)}, tokens)
    for char in text[len(prefix) :]:
        states = _closure(_step(states, char, tokens), tokens)
        if not states:
            return False
    return 2 * len(tokens) in states


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple[str, tuple[Token, ...]]:
    """The folded pattern's fixed beginning (one literal token per character), and its tokens."""
    pattern = fold(pattern)
    tokens: list[Token] = []
    index = 0
    while index < len(pattern):
        at_segment_start = index == 0 or pattern[index - 1] == "/"
        if at_segment_start and pattern.startswith("**/", index):
            tokens.append((_ANY_DIRS, ""))
            index += 3
        elif pattern.startswith("**", index):
            tokens.append((_ANY, ""))
            while index < len(pattern) and pattern[index] == "*":
                index += 1
        else:
            char = pattern[index]
            kind = {"*": _STAR, "?": _ONE}.get(char, _LITERAL)
            tokens.append((kind, char))
            index += 1
    fixed = len(tokens)
    for position, (kind, _) in enumerate(tokens):
        if kind != _LITERAL:
            fixed = position
            break
    return "".join(char for _, char in tokens[:fixed]), tuple(tokens)


# State 2*i is "at token i"; state 2*i + 1 is "inside the directories of `**/` at token i",
# where only a `/` may end the run. State 2*len(tokens) is the match.


def _closure(states: set[int], tokens: tuple[Token, ...]) -> set[int]:
    """`states` with every state reachable by matching a wildcard to nothing."""
    pending = list(states)
    while pending:
        state = pending.pop()
        index, inside = divmod(state, 2)
        if not inside and index < len(tokens) and tokens[index][0] in _SKIPPABLE:
            following = 2 * (index + 1)
            if following not in states:
                states.add(following)
                pending.append(following)
    return states


def _step(states: set[int], char: str, tokens: tuple[Token, ...]) -> set[int]:
    """The states after reading `char`."""
    following: set[int] = set()
    for state in states:
        index, inside = divmod(state, 2)
        if index == len(tokens):
            continue
        kind, literal = tokens[index]
        if inside or kind == _ANY_DIRS:
            following.add(2 * index + 1)
            if char == "/":
                following.add(2 * (index + 1))
        elif kind == _LITERAL:
            if char == literal:
                following.add(2 * (index + 1))
        elif kind == _ONE:
            if char != "/":
                following.add(2 * (index + 1))
        elif kind == _STAR:
            if char != "/":
                following.add(state)
        elif kind == _ANY:
            following.add(state)
    return following
