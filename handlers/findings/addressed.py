"""Which posted findings a later commit addressed: those whose lines it changed (pure).

A finding on the reviewed commit's lines (side RIGHT) is addressed when the comparison from that
commit to the new head removes or rewrites at least one of them, or removes or renames its file;
a file whose patch GitHub does not show (binary, too large) addresses nothing, as its lines are
not known.
A line added next to it changes nothing it pointed at. A finding on lines the pull request had
removed (side LEFT) points at the base, which a later commit does not change: it is never
counted as addressed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.store.outcomes import PostedFinding

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


@dataclass(frozen=True)
class FileChange:
    """One file of a comparison: its status and its patch (None when GitHub gave none, as for
    a binary file or a patch too large to show)."""

    status: str  # added, removed, modified, renamed, copied, changed, unchanged
    patch: str | None


def changed_old_lines(patch: str) -> set[int]:
    """The old file's lines a unified diff removes or rewrites."""
    changed: set[int] = set()
    old = 0
    for text in patch.splitlines():
        hunk = HUNK.match(text)
        if hunk:
            old = int(hunk.group(1))
            continue
        if text.startswith("-"):
            changed.add(old)
            old += 1
        elif text.startswith(" ") or text == "":
            old += 1
        # "+" lines and "\\ No newline at end of file" leave the old numbering alone
    return changed


def is_addressed(finding: PostedFinding, change: FileChange | None) -> bool:
    """Whether the change to the finding's file touched the finding's lines."""
    if finding.side != "RIGHT" or change is None:
        return False
    if change.status in ("removed", "renamed"):
        return True
    if change.patch is None:
        # GitHub shows no patch (binary, or too large): which lines changed is not known, and
        # a finding is counted as addressed only when it is known.
        return False
    lines = changed_old_lines(change.patch)
    return any(line in lines for line in range(finding.start_line, finding.line + 1))


def addressed(
    findings: Iterable[PostedFinding], changes: Mapping[str, FileChange]
) -> list[PostedFinding]:
    """The findings the changes (by the reviewed file's path) addressed."""
    return [item for item in findings if is_addressed(item, changes.get(item.path))]
