"""A job's git checkout on the host: clone with a scoped token, the work branch, commit, push.

The host keeps the repository's git directory outside the checkout the container sees, and
after the run it never runs git over the checkout: it reads the files with its own walk
(`sandbox.snapshot`), writes them into that git directory as blobs, and builds the tree, the
diff and the commit from its own objects. The agent gets its own copy of `.git` to look at;
nothing in it (hooks, `core.fsmonitor`, filters, nested repositories) is ever read here.
The token travels only in the environment of one git command as `http.extraHeader`
(command-scope configuration, like `git -c`, but out of process listings); it is never
written into the checkout, the git directory, or a remote URL.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sandbox import git_mirror
from sandbox.git_command import execute_git, run_git, token_secrets
from sandbox.git_errors import GitError, PushRejected, explain_push_failure
from sandbox.git_secrets import find_secrets
from sandbox.snapshot import Snapshot, SnapshotLimits, diff_trees, take_snapshot, tree_listing
from sandbox.workspace import hand_to_agent
from sandbox.workspace_walk import WorkspaceRefused

__all__ = [
    "GitError",
    "JobWorkspace",
    "PushRejected",
    "Snapshot",
    "SnapshotLimits",
    "WorkspaceRefused",
    "changed_files",
    "commit_changes",
    "diff_text",
    "find_secrets",
    "prepare_workspace",
    "push",
    "remove_workspace",
    "snapshot_workspace",
]

JOB_DIRECTORY_PREFIX = "fixwright-job-"

GIT_ATTEMPTS = 3
T = TypeVar("T")
# Checked out as stored: no end-of-line conversion, `ident` or filter, whatever the repository's
# `.gitattributes` asks, so the untouched checkout reads back as exactly the commit's tree.
RAW_CHECKOUT_ATTRIBUTES = "* -text -eol -ident -filter -working-tree-encoding\n"


@dataclass(frozen=True)
class JobWorkspace:
    """A checkout of the job's work branch, and the host's git directory for it."""

    path: Path  # the checkout, handed to the agent's uid (1000) for the container
    branch: str  # the work branch, e.g. "fixwright/issue-7"
    base_sha: str  # the commit the agent starts from
    branch_existed: bool  # True when the work branch already existed on the remote and was reused
    default_branch: str  # the branch the work started from; never pushed to
    git_dir: Path  # the host's git directory, outside `path`, never seen by the agent


def _checkout_git(workspace: JobWorkspace) -> list[str]:
    """Options for the clone's own checkout, before the agent has written anything."""
    return [
        "-c",
        f"safe.directory={workspace.git_dir}",
        f"--git-dir={workspace.git_dir}",
        f"--work-tree={workspace.path}",
    ]


def _host_git(workspace: JobWorkspace) -> list[str]:
    """Options that point git at the host's git directory alone: no work tree, ever."""
    return ["-c", f"safe.directory={workspace.git_dir}", f"--git-dir={workspace.git_dir}"]


def _check_clone_url(clone_url: str, step: str) -> None:
    """Refuse a URL with credentials in it: git would store them in `.git/config`."""
    parts = urlsplit(clone_url)
    if parts.username or parts.password:
        raise GitError(
            step,
            f"The {step} was not attempted: the repository URL carries credentials, and "
            "fixwright passes the token only as a request header.",
        )


def _check_branch_name(work_branch: str, default_branch: str) -> None:
    if work_branch == default_branch:
        raise GitError(
            "prepare", f"The work branch may not be the default branch ({default_branch})."
        )
    if work_branch.startswith("-"):
        raise GitError("prepare", "The work branch name may not start with '-'.")
    run_git(["check-ref-format", "--branch", work_branch], step="prepare")


def _prepare(
    clone_url: str,
    token: str,
    default_branch: str,
    work_branch: str,
    parent: Path,
    mirrors: Path | None,
) -> JobWorkspace:
    _check_clone_url(clone_url, "clone")
    _check_branch_name(work_branch, default_branch)
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=JOB_DIRECTORY_PREFIX, dir=parent))
    workspace = JobWorkspace(
        path=root / "workspace",
        branch=work_branch,
        base_sha="",
        branch_existed=False,
        default_branch=default_branch,
        git_dir=root / "git",
    )
    try:
        return _clone_and_branch(workspace, clone_url, token, mirrors)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _template(root: Path) -> Path:
    """A git template of the host's: no hooks, and attributes that keep the checkout raw."""
    template = root / "template"
    (template / "info").mkdir(parents=True, exist_ok=True)
    (template / "hooks").mkdir(exist_ok=True)  # empty, where the agent's git expects its hooks
    (template / "info" / "attributes").write_text(RAW_CHECKOUT_ATTRIBUTES)
    return template


def _clone(workspace: JobWorkspace, source: str, token: str | None, local: bool = False) -> None:
    run_git(
        [
            "clone",
            "--quiet",
            "--no-tags",
            "--single-branch",
            f"--template={_template(workspace.path.parent)}",
            f"--branch={workspace.default_branch}",
            f"--separate-git-dir={workspace.git_dir}",
            "--",
            source,
            str(workspace.path),
        ],
        step="clone",
        token=token,
        remote=source,
        local=local,
    )


def _clone_through_mirror(
    workspace: JobWorkspace, clone_url: str, token: str, mirrors: Path
) -> None:
    """Clone from this machine's mirror of the repository, refreshed first (`sandbox.git_mirror`)."""

    def from_mirror(mirror: Path) -> None:
        try:
            _clone(workspace, str(mirror), None, local=True)
            git = _checkout_git(workspace)
            run_git([*git, "remote", "set-url", "origin", clone_url], step="clone")
            # The reflogs name the mirror's path ("clone: from ..."); the agent gets a copy.
            shutil.rmtree(workspace.git_dir / "logs", ignore_errors=True)
        except GitError:
            shutil.rmtree(workspace.path, ignore_errors=True)
            shutil.rmtree(workspace.git_dir, ignore_errors=True)
            raise

    git_mirror.clone_through_mirror(
        mirrors,
        clone_url,
        token,
        workspace.default_branch,
        from_mirror,
        lambda: _clone(workspace, clone_url, token),
    )


def _clone_and_branch(
    workspace: JobWorkspace, clone_url: str, token: str, mirrors: Path | None
) -> JobWorkspace:
    if mirrors is None:
        _clone(workspace, clone_url, token)
    else:
        _clone_through_mirror(workspace, clone_url, token, mirrors)
    git = _checkout_git(workspace)
    remote_ref = f"refs/heads/{workspace.branch}"
    listed = run_git(
        [*git, "ls-remote", "--heads", "origin", remote_ref],
        step="clone",
        token=token,
        remote=clone_url,
    )
    existed = any(line.endswith("\t" + remote_ref) for line in listed.stdout.splitlines())
    if existed:
        tracking = f"refs/remotes/origin/{workspace.branch}"
        run_git(
            [*git, "fetch", "--quiet", "--no-tags", "origin", f"+{remote_ref}:{tracking}"],
            step="clone",
            token=token,
            remote=clone_url,
        )
        run_git([*git, "checkout", "--quiet", "-B", workspace.branch, tracking], step="clone")
    else:
        run_git([*git, "checkout", "--quiet", "-b", workspace.branch], step="clone")
    head = run_git([*git, "rev-parse", "HEAD"], step="clone").stdout.strip()
    _give_agent_its_own_git_directory(workspace)
    # From here on the host's git directory has no work tree: nothing it runs looks at the checkout.
    run_git([*_host_git(workspace), "config", "core.bare", "true"], step="clone")
    hand_to_agent(workspace.path)
    return JobWorkspace(
        path=workspace.path,
        branch=workspace.branch,
        base_sha=head,
        branch_existed=existed,
        default_branch=workspace.default_branch,
        git_dir=workspace.git_dir,
    )


def _give_agent_its_own_git_directory(workspace: JobWorkspace) -> None:
    """Replace the checkout's `.git` pointer with a copy the agent may read and write freely."""
    dot_git = workspace.path / ".git"
    dot_git.unlink()
    shutil.copytree(workspace.git_dir, dot_git, symlinks=True)


async def prepare_workspace(
    *,
    clone_url: str,
    token: str,
    default_branch: str,
    work_branch: str,
    parent: Path,
    mirrors: Path | None = None,
) -> JobWorkspace:
    """Clone `default_branch` under `parent` and check out `work_branch`, reusing it if it exists.

    With `mirrors`, the clone comes from this machine's mirror of the repository there
    (`sandbox.git_mirror`), and only what is new since the last job is fetched from GitHub.
    """
    return await _with_retries(
        _prepare, clone_url, token, default_branch, work_branch, parent, mirrors
    )


def _snapshot(workspace: JobWorkspace, limits: SnapshotLimits) -> Snapshot:
    baseline = tree_listing(workspace.git_dir, workspace.base_sha)
    return take_snapshot(workspace.path, workspace.git_dir, baseline=baseline, limits=limits)


async def snapshot_workspace(
    workspace: JobWorkspace, limits: SnapshotLimits | None = None
) -> Snapshot:
    """The checkout read once by the host, as a tree in its git directory and the changes in it.

    Raises `WorkspaceRefused`, naming the path, for what the host will not commit (a nested
    repository, a FIFO, a file over the limits).
    """
    return await asyncio.to_thread(_snapshot, workspace, limits or SnapshotLimits())


async def changed_files(workspace: JobWorkspace, snapshot: Snapshot | None = None) -> list[str]:
    """The paths added, modified or deleted since `base_sha`, untracked files included.

    From `snapshot` when given; otherwise the checkout is read afresh with the default limits.
    """
    return (snapshot or await snapshot_workspace(workspace)).changed_files


def _files_on_branch(workspace: JobWorkspace) -> list[str]:
    names = diff_trees(
        workspace.git_dir,
        f"refs/remotes/origin/{workspace.default_branch}",
        workspace.base_sha,
        names_only=True,
    )
    return [name for name in names.split("\0") if name]


async def files_on_branch(workspace: JobWorkspace) -> list[str]:
    """What the work branch already changes against the default branch (an earlier attempt's push)."""
    return await asyncio.to_thread(_files_on_branch, workspace)


async def diff_text(workspace: JobWorkspace, snapshot: Snapshot | None = None) -> str:
    """Everything changed since `base_sha` as one diff, binary files as git's binary patches."""
    snapshot = snapshot or await snapshot_workspace(workspace)
    return await asyncio.to_thread(
        diff_trees, workspace.git_dir, f"{workspace.base_sha}^{{tree}}", snapshot.tree
    )


def _one_line(text: str) -> str:
    return " ".join(text.replace("<", "").replace(">", "").split())


def commit_message_with_trailers(message: str, co_authors: Iterable[tuple[str, str]]) -> str:
    """`message` followed by one `Co-authored-by: name <email>` trailer per distinct co-author.

    Trailing spaces go and blank lines collapse to one, as `git commit --cleanup=whitespace` does.
    """
    trailers = dict.fromkeys(
        f"Co-authored-by: {_one_line(name)} <{_one_line(email)}>" for name, email in co_authors
    )
    lines: list[str] = []
    for line in message.strip().splitlines():
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    body = "\n".join(lines)
    return body + ("\n\n" + "\n".join(trailers) if trailers else "") + "\n"


def _commit(
    workspace: JobWorkspace,
    snapshot: Snapshot,
    message: str,
    author_name: str,
    author_email: str,
    co_authors: Sequence[tuple[str, str]],
) -> str | None:
    git = _host_git(workspace)
    head = run_git([*git, "rev-parse", "--verify", "HEAD^{commit}"], step="commit").stdout.strip()
    head_tree = run_git([*git, "rev-parse", "HEAD^{tree}"], step="commit").stdout.strip()
    if snapshot.tree == head_tree:
        return None
    name, email = _one_line(author_name), _one_line(author_email)
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    commit = run_git(
        [*git, "commit-tree", "--no-gpg-sign", "-p", head, "-F", "-", snapshot.tree],
        step="commit",
        env=identity,
        stdin=commit_message_with_trailers(message, co_authors),
    ).stdout.strip()
    run_git(
        [
            *git,
            "update-ref",
            "-m",
            "fixwright: commit",
            f"refs/heads/{workspace.branch}",
            commit,
            head,
        ],
        step="commit",
    )
    return commit


async def commit_changes(
    workspace: JobWorkspace,
    *,
    message: str,
    author_name: str,
    author_email: str,
    co_authors: Sequence[tuple[str, str]],
    snapshot: Snapshot | None = None,
) -> str | None:
    """Commit the snapshot's tree (a fresh one if none is given) as the App's bot on top of the
    branch; the new sha, or None if the tree is the branch's already."""
    snapshot = snapshot or await snapshot_workspace(workspace)
    return await asyncio.to_thread(
        _commit, workspace, snapshot, message, author_name, author_email, co_authors
    )


def _push(workspace: JobWorkspace, clone_url: str, token: str) -> None:
    if workspace.branch == workspace.default_branch:
        raise PushRejected(
            f"Pushing to {workspace.branch} was refused: fixwright never pushes to the "
            "repository's default branch."
        )
    _check_clone_url(clone_url, "push")
    refspec = f"refs/heads/{workspace.branch}:refs/heads/{workspace.branch}"
    result = execute_git(
        [
            *_host_git(workspace),
            "push",
            "--porcelain",
            "--no-recurse-submodules",
            "--",
            clone_url,
            refspec,
        ],
        step="push",
        token=token,
        remote=clone_url,
    )
    if result.returncode != 0:
        raise explain_push_failure(
            result.stderr + result.stdout, workspace.branch, token_secrets(token)
        )


async def push(workspace: JobWorkspace, *, clone_url: str, token: str) -> None:
    """Push the work branch (only it, never forced) to `clone_url`; `PushRejected` says why not."""
    await _with_retries(_push, workspace, clone_url, token)


async def _with_retries(step: Callable[..., T], *args: Any) -> T:
    """Run a blocking git step; when GitHub could not answer (network, 5xx), try twice more."""
    for attempt in range(GIT_ATTEMPTS):
        try:
            return await asyncio.to_thread(step, *args)
        except GitError as error:
            if not error.transient or attempt == GIT_ATTEMPTS - 1:
                raise
            await asyncio.sleep(2**attempt)
    raise AssertionError("unreachable")


def _remove(workspace: JobWorkspace) -> None:
    root = workspace.path.parent
    if root.name.startswith(JOB_DIRECTORY_PREFIX) and root == workspace.git_dir.parent:
        shutil.rmtree(root, ignore_errors=True)
        return
    shutil.rmtree(workspace.path, ignore_errors=True)
    shutil.rmtree(workspace.git_dir, ignore_errors=True)


async def remove_workspace(workspace: JobWorkspace) -> None:
    """Delete the checkout and the host's git directory (symlinks the agent made are not followed)."""
    await asyncio.to_thread(_remove, workspace)
