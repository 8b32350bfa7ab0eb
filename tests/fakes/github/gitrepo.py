"""Bare git repositories behind the fake GitHub: create them, commit to them, read them back."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AUTHOR = ("Octo Cat", "octocat@users.noreply.example")


def git(*args: str, cwd: Path | None = None, input_bytes: bytes | None = None) -> str:
    """Run git with no user or system configuration, so the machine's settings never leak in."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": AUTHOR[0],
        "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0],
        "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=input_bytes, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode(errors="replace")


def create_bare(path: Path, files: Mapping[str, str], default_branch: str) -> str:
    """Create a bare repository at `path` whose `default_branch` holds `files`; return the sha."""
    path.mkdir(parents=True)
    git("init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path))
    return commit_files(path, default_branch, files, message="Initial commit", parent=None)


def commit_files(
    bare: Path,
    branch: str,
    files: Mapping[str, str | None],
    *,
    message: str,
    parent: str | None,
) -> str:
    """Commit `files` (None deletes a file) on top of `parent` (a ref or None) and move `branch`."""
    with tempfile.TemporaryDirectory(prefix="fake-github-work-") as scratch:
        work = Path(scratch)
        git("init", "--quiet", f"--initial-branch={branch}", cwd=work)
        if parent is not None:
            git("fetch", "--quiet", str(bare), parent, cwd=work)
            git("checkout", "--quiet", "-B", branch, "FETCH_HEAD", cwd=work)
        for name, content in files.items():
            target = work / name
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
        git("push", "--quiet", "--force", str(bare), f"HEAD:refs/heads/{branch}", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()


def rev_parse(bare: Path, ref: str) -> str | None:
    """The commit sha `ref` points at, or None when it does not exist."""
    try:
        out = git("--git-dir", str(bare), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except RuntimeError:
        return None
    return out.strip() or None


def branch_sha(bare: Path, branch: str) -> str | None:
    """The sha of a branch head, or None when the branch does not exist."""
    return rev_parse(bare, f"refs/heads/{branch}")


def branches(bare: Path) -> list[str]:
    """Names of all branches in the repository."""
    out = git("--git-dir", str(bare), "for-each-ref", "--format=%(refname:short)", "refs/heads")
    return out.split()


def read_files(bare: Path, ref: str) -> dict[str, str]:
    """Every file at `ref`, path to text content."""
    names = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", ref).splitlines()
    return {name: git("--git-dir", str(bare), "show", f"{ref}:{name}") for name in names}


def diff(bare: Path, base: str, head: str) -> str:
    """The unified diff from the merge base of `base` and `head` to `head`, as a PR shows it."""
    return git("--git-dir", str(bare), "diff", f"{base}...{head}")


def commit_message(bare: Path, ref: str) -> str:
    """The full message of the commit at `ref`."""
    return git("--git-dir", str(bare), "log", "-1", "--format=%B", ref).strip()


def commit_author(bare: Path, ref: str) -> tuple[str, str]:
    """(name, email) of the author of the commit at `ref`."""
    name, _, email = git("--git-dir", str(bare), "log", "-1", "--format=%an%n%ae", ref).partition(
        "\n"
    )
    return name.strip(), email.strip()


@dataclass(frozen=True)
class ChangedFile:
    """One file of a pull request's diff, as GitHub's files endpoint reports it."""

    filename: str
    status: str
    additions: int
    deletions: int
    patch: str
    blob_sha: str


_STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied"}


def changed_files(bare: Path, base: str, head: str) -> list[ChangedFile]:
    """The files a pull request from `head` into `base` changes, with per-file patches."""
    git_dir = ("--git-dir", str(bare))
    spec = f"{base}...{head}"
    numstat = git(*git_dir, "diff", "--numstat", "--no-renames", spec).splitlines()
    statuses = git(*git_dir, "diff", "--name-status", "--no-renames", spec).splitlines()
    kinds = {line.split("\t")[1]: line.split("\t")[0][0] for line in statuses if line}
    files = []
    for line in numstat:
        added, deleted, name = line.split("\t", 2)
        patch = git(*git_dir, "diff", "--no-renames", spec, "--", name)
        hunks = patch[patch.find("@@") :] if "@@" in patch else ""
        blob = rev_parse_blob(bare, head, name) if kinds.get(name) != "D" else "0" * 40
        files.append(
            ChangedFile(
                filename=name,
                status=_STATUS.get(kinds.get(name, "M"), "modified"),
                additions=int(added) if added.isdigit() else 0,
                deletions=int(deleted) if deleted.isdigit() else 0,
                patch=hunks.rstrip("\n"),
                blob_sha=blob,
            )
        )
    return files


def rev_parse_blob(bare: Path, ref: str, name: str) -> str:
    """The blob sha of `name` at `ref`."""
    return git("--git-dir", str(bare), "rev-parse", f"{ref}:{name}").strip()


def read_file(bare: Path, ref: str, name: str) -> str | None:
    """The content of file `name` at `ref`, or None when the ref or the file does not exist."""
    try:
        if git("--git-dir", str(bare), "cat-file", "-t", f"{ref}:{name}").strip() != "blob":
            return None
        return git("--git-dir", str(bare), "show", f"{ref}:{name}")
    except RuntimeError:
        return None
