"""A pull request's diff as a review sees it: which lines take comments, which files are reviewed."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
MAX_FILES = 50
MAX_CHANGED_LINES = 3_000
LOCK_FILES = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "Cargo.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "mix.lock",
    "flake.lock",
)
GENERATED = (
    "*.min.js",
    "*.min.css",
    "*.map",
    "*_pb2.py",
    "*_pb2_grpc.py",
    "*.pb.go",
    "*.generated.*",
    "*.snap",
    "dist/*",
    "vendor/*",
    "node_modules/*",
)


@dataclass(frozen=True)
class ChangedFile:
    """One file of the pull request, as GitHub's files endpoint lists it."""

    path: str
    status: str
    additions: int
    deletions: int
    patch: str | None  # None when GitHub shows no diff (a binary or very large file)

    @property
    def changed_lines(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True)
class DiffLine:
    hunk: int  # which hunk of the file's patch the line is in
    text: str


@dataclass(frozen=True)
class FileLines:
    """The lines of one file a review comment may anchor to, per side, with their text."""

    right: dict[int, DiffLine] = field(default_factory=dict)
    left: dict[int, DiffLine] = field(default_factory=dict)

    def side(self, side: str) -> dict[int, DiffLine]:
        return self.right if side == "RIGHT" else self.left

    def covers(self, side: str, line: int, start_line: int | None = None) -> bool:
        """Whether GitHub takes a comment there: both ends on the diff, in the same hunk."""
        lines = self.side(side)
        end = lines.get(line)
        if end is None:
            return False
        if start_line is None:
            return True
        start = lines.get(start_line)
        return start is not None and start.hunk == end.hunk

    def text(self, side: str, line: int) -> str:
        found = self.side(side).get(line)
        return found.text if found else ""


def commentable_lines(patch: str) -> FileLines:
    """Read a file's patch: added lines are RIGHT, removed ones LEFT, context lines both."""
    lines = FileLines()
    left = right = 0
    hunk = -1
    for row in patch.splitlines():
        if match := HUNK.match(row):
            left, right = int(match.group(1)), int(match.group(2))
            hunk += 1
        elif hunk < 0 or row.startswith("\\"):
            continue
        elif row.startswith("-"):
            lines.left[left] = DiffLine(hunk, row[1:])
            left += 1
        elif row.startswith("+"):
            lines.right[right] = DiffLine(hunk, row[1:])
            right += 1
        else:
            lines.left[left] = lines.right[right] = DiffLine(hunk, row[1:])
            left, right = left + 1, right + 1
    return lines


@dataclass(frozen=True)
class ReviewScope:
    """Which files the review covers, and which it leaves out with the reason why."""

    reviewed: tuple[ChangedFile, ...]
    skipped: tuple[tuple[ChangedFile, str], ...]

    @property
    def changed_lines(self) -> int:
        return sum(f.changed_lines for f in self.reviewed)

    def lines_of(self) -> dict[str, FileLines]:
        return {f.path: commentable_lines(f.patch or "") for f in self.reviewed}


def skip_reason(file: ChangedFile) -> str | None:
    """Why a file is not worth a reviewer's time on its own merits, or None."""
    name = file.path.rsplit("/", 1)[-1]
    if name in LOCK_FILES:
        return "lock file"
    if any(fnmatch.fnmatch(file.path, pattern) for pattern in GENERATED):
        return "generated or vendored file"
    if not file.patch:
        return "no text diff (binary, renamed without changes, or too large for GitHub to show)"
    return None


def select_files(
    files: Sequence[ChangedFile],
    *,
    max_files: int = MAX_FILES,
    max_changed_lines: int = MAX_CHANGED_LINES,
) -> ReviewScope:
    """Review files in GitHub's order until the limits are reached; say why the rest were left."""
    reviewed: list[ChangedFile] = []
    skipped: list[tuple[ChangedFile, str]] = []
    budget = max_changed_lines
    for file in files:
        reason = skip_reason(file)
        if reason is None and len(reviewed) >= max_files:
            reason = f"over the limit of {max_files} files per review"
        if reason is None and file.changed_lines > budget:
            reason = (
                f"over the limit of {max_changed_lines:,} changed lines per review "
                f"({file.changed_lines:,} changed lines)"
            )
        if reason is None:
            reviewed.append(file)
            budget -= file.changed_lines
        else:
            skipped.append((file, reason))
    return ReviewScope(tuple(reviewed), tuple(skipped))


def unified_diff(files: Iterable[ChangedFile]) -> str:
    """The reviewed files' patches as one diff, each under a `diff --git` header."""
    parts = []
    for file in files:
        header = f"diff --git a/{file.path} b/{file.path}\n"
        old = "/dev/null" if file.status == "added" else f"a/{file.path}"
        new = "/dev/null" if file.status == "removed" else f"b/{file.path}"
        parts.append(f"{header}--- {old}\n+++ {new}\n{(file.patch or '').rstrip()}\n")
    return "".join(parts)
