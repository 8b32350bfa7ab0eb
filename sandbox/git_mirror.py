"""A bare mirror per repository on the host, so a repository's second job does not download it again.

A job's clone is made from the mirror on this machine (hard links, no network), after one fetch
brings the mirror's copy of the default branch up to date with GitHub; the work branch, the
push and everything after talk to GitHub as before. The mirror holds only what GitHub sent:
the agent never sees it, and nothing of a job's checkout is ever written back into it. One lock
file per mirror keeps two jobs (or the retention sweep) from changing it at once. A mirror that
fails is removed and the job clones from GitHub directly, so a broken mirror costs time, never
a job.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.directories import directories_older_than
from sandbox.git_command import run_git
from sandbox.git_errors import GitError

MIRROR_SUFFIX = ".git"
LOCK_SUFFIX = ".lock"


def mirror_of(root: Path, clone_url: str) -> Path:
    """Where the mirror of `clone_url` lives: a name derived from the URL, never taken from it."""
    digest = hashlib.sha256(clone_url.encode()).hexdigest()[:32]
    return root / f"{digest}{MIRROR_SUFFIX}"


@contextmanager
def locked(mirror: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the mirror's lock for the block; with `wait=False`, yield False when it is taken."""
    with open(mirror.with_suffix(LOCK_SUFFIX), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _create(mirror: Path) -> None:
    """An empty bare repository with no hooks, made aside and renamed into place."""
    made = Path(tempfile.mkdtemp(prefix=".new-", dir=mirror.parent))
    template = made / "template"
    template.mkdir()
    run_git(
        ["init", "--quiet", "--bare", f"--template={template}", str(made / "repository")],
        step="clone",
    )
    (made / "repository").rename(mirror)
    shutil.rmtree(made, ignore_errors=True)


def _fetch(mirror: Path, clone_url: str, token: str, branch: str) -> None:
    ref = f"refs/heads/{branch}"
    run_git(
        [
            "-c",
            f"safe.directory={mirror}",
            # The housekeeping a fetch may start runs now, under the lock, not in the background
            # where it could repack the mirror while the next job clones from it.
            "-c",
            "gc.autoDetach=false",
            "-c",
            "maintenance.autoDetach=false",
            f"--git-dir={mirror}",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            clone_url,
            f"+{ref}:{ref}",
        ],
        step="clone",
        token=token,
        remote=clone_url,
    )


def clone_through_mirror(
    root: Path,
    clone_url: str,
    token: str,
    branch: str,
    from_mirror: Callable[[Path], None],
    from_github: Callable[[], None],
) -> None:
    """Bring the mirror's `branch` up to date with GitHub, then `from_mirror(mirror)`, under its lock.

    When the fetch fails, `from_github()` clones directly: if GitHub is at fault (a refused token,
    no network) that raises the error a plain clone would; if it succeeds, the mirror was at
    fault and is removed, to be made anew next time. When `from_mirror` fails (it must leave
    nothing behind), the mirror is removed and `from_github()` clones.
    """
    root.mkdir(parents=True, exist_ok=True)
    mirror = mirror_of(root, clone_url)
    with locked(mirror):
        created = not mirror.is_dir()
        try:
            if created:
                _create(mirror)
            _fetch(mirror, clone_url, token, branch)
        except GitError:
            try:
                from_github()
            except GitError:
                if created:  # nothing worth keeping for a repository GitHub did not serve
                    shutil.rmtree(mirror, ignore_errors=True)
                raise
            shutil.rmtree(mirror, ignore_errors=True)
            return
        os.utime(mirror)  # when a job last used it, for the retention sweep
        try:
            from_mirror(mirror)
        except GitError:
            shutil.rmtree(mirror, ignore_errors=True)
            from_github()


def unused_mirrors(root: Path, before: float) -> list[Path]:
    """The mirrors under `root` that no job has used since `before`."""
    return directories_older_than(root, before, lambda name: name.endswith(MIRROR_SUFFIX))


def remove_unused_mirrors(root: Path, before: float | None = None) -> int:
    """Delete the mirrors unused since `before` (default: now) that no job holds; how many went."""
    cutoff = time.time() if before is None else before
    removed = 0
    for mirror in unused_mirrors(root, cutoff):
        with locked(mirror, wait=False) as held:
            if held and mirror.stat().st_mtime < cutoff:
                shutil.rmtree(mirror, ignore_errors=True)
                removed += 1
    return removed
