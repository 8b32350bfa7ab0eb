"""What a task leaves: its diff (redacted, capped) and the result the API answers with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.job_events import FileChange
from sandbox.redaction import redact_text

DIFF_LIMIT_BYTES = 2 * 1024 * 1024
CUT_NOTE = "\n# fixwright: the diff is longer than {limit:,} bytes and was cut here\n"


def kept_diff(diff: str, secrets: Iterable[str], limit: int = DIFF_LIMIT_BYTES) -> str:
    """The diff as the store keeps it: secrets redacted first (a cut could split one), then
    capped at `limit` bytes with a note saying so."""
    text = redact_text(diff, tuple(secrets))
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + CUT_NOTE.format(limit=limit)


def task_result(
    *,
    success: bool,
    summary: str,
    files: Iterable[FileChange] = (),
    pull_request: dict[str, Any] | None = None,
    verification: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The result the API answers with, as the store keeps it."""
    return {
        "success": success,
        "summary": summary,
        "files_changed": [
            {"path": c.path, "additions": c.additions, "deletions": c.deletions} for c in files
        ],
        "pull_request": pull_request,
        "verification": verification,
    }
