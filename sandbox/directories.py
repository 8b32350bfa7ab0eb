"""Directories fixwright keeps on the host, found by name and age for the retention sweep."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def directories_older_than(parent: Path, before: float, ours: Callable[[str], bool]) -> list[Path]:
    """The directories directly under `parent` whose name is `ours` and that last changed before
    `before`; only each entry itself is looked at, no symlink followed."""
    try:
        entries = list(os.scandir(parent))
    except FileNotFoundError:
        return []
    return sorted(
        Path(entry.path)
        for entry in entries
        if ours(entry.name)
        and entry.is_dir(follow_symlinks=False)
        and entry.stat(follow_symlinks=False).st_mtime < before
    )
