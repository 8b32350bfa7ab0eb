"""A review's checkout on the host: one commit of a pull request, by sha, read by the agent only.

The commit is the head the job recorded when it started, fetched by its sha: a branch or
`refs/pull/N/head` may have moved since. The base repository holds every pull request's commits
(`refs/pull/N/head`), from a fork or not, so one fetch with the job's read-only token covers
both. The checkout has no `.git`: a review needs the files, not the history, and the container
mounts it read-only.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sandbox.git_command import run_git
from sandbox.git_errors import GitError
from sandbox.workspace import hand_to_agent

REVIEW_DIRECTORY_PREFIX = "fixwright-review-"
COMMIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class ReviewCheckout:
    """The files of a pull request's head, and the commit they are at."""

    path: Path
    head_sha: str
    root: Path  # holds the checkout and the host's git directory; removed as a whole


def _fetch_and_check_out(root: Path, clone_url: str, token: str, sha: str) -> ReviewCheckout:
    work, git_dir = root / "checkout", root / "git"
    run_git(["init", "--quiet", f"--separate-git-dir={git_dir}", str(work)], step="fetch")
    git = ["-c", f"safe.directory={work}", "-C", str(work)]
    run_git(
        [
            *git,
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth=1",
            "--",
            clone_url,
            f"+{sha}:refs/fixwright/review",
        ],
        step="fetch",
        token=token,
        remote=clone_url,
    )
    run_git([*git, "checkout", "--quiet", "--detach", "refs/fixwright/review"], step="fetch")
    head = run_git([*git, "rev-parse", "HEAD"], step="fetch").stdout.strip()
    if head != sha:
        raise GitError("fetch", f"The fetch failed: GitHub sent commit {head} for {sha}.")
    (work / ".git").unlink()
    hand_to_agent(work)  # readable by the sandbox user whatever the umask; the mount is read-only
    return ReviewCheckout(path=work, head_sha=head, root=root)


def _checkout(clone_url: str, token: str, sha: str, parent: Path) -> ReviewCheckout:
    if not COMMIT_SHA.fullmatch(sha):
        raise GitError("fetch", f"The fetch was not attempted: {sha!r} is not a commit sha.")
    parts = urlsplit(clone_url)
    if parts.username or parts.password:
        raise GitError(
            "fetch",
            "The fetch was not attempted: the repository URL carries credentials, and fixwright "
            "passes the token only as a request header.",
        )
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=REVIEW_DIRECTORY_PREFIX, dir=parent))
    try:
        return _fetch_and_check_out(root, clone_url, token, sha)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


async def check_out_commit(*, clone_url: str, token: str, sha: str, parent: Path) -> ReviewCheckout:
    """Fetch exactly commit `sha` of the base repository and check it out under `parent`."""
    return await asyncio.to_thread(_checkout, clone_url, token, sha, parent)


async def remove_checkout(checkout: ReviewCheckout) -> None:
    """Delete the checkout and its git directory."""
    if checkout.root.name.startswith(REVIEW_DIRECTORY_PREFIX):
        await asyncio.to_thread(shutil.rmtree, checkout.root, True)
