"""Clones through the host's mirror of a repository, against the fake GitHub's real smart HTTP."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from app.config import Settings
from app.retention import sweep
from app.store.sqlite import SQLiteStore
from sandbox import git_mirror
from sandbox.git_workspace import GitError, JobWorkspace
from tests import test_store
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.test_git_workspace import WORK_BRANCH, bare, files_holding, mint, prepare

# The store's own fixtures, for the retention sweep.
clock, store = test_store.clock, test_store.store


async def through_mirror(
    fake_github: FakeGitHub, token: str, tmp_path: Path, **kwargs
) -> JobWorkspace:
    return await prepare(fake_github, token, tmp_path, mirrors=tmp_path / "mirrors", **kwargs)


def mirror_path(fake_github: FakeGitHub, tmp_path: Path) -> Path:
    return git_mirror.mirror_of(tmp_path / "mirrors", fake_github.clone_url())


async def test_a_second_clone_comes_from_the_mirror_with_what_github_added_since(
    fake_github, tmp_path
) -> None:
    """The mirror is made by the first job and brought up to date by the next, whose checkout
    is GitHub's current default branch, its remote GitHub, its objects its own."""
    token = await mint(fake_github)
    first = await through_mirror(fake_github, token, tmp_path)
    mirror = mirror_path(fake_github, tmp_path)
    assert gitrepo.branch_sha(mirror, "main") == first.base_sha

    newer = fake_github.state.push_branch(
        REPOSITORY, "main", {"NEWS.md": "later\n"}, message="Later"
    )
    second_parent = tmp_path / "second"
    second = await prepare(fake_github, token, second_parent, mirrors=tmp_path / "mirrors")

    assert second.base_sha == newer == gitrepo.branch_sha(mirror, "main")
    assert (second.path / "NEWS.md").read_text() == "later\n"
    assert gitrepo.git("--git-dir", str(second.git_dir), "remote", "get-url", "origin").strip() == (
        fake_github.clone_url()
    )
    # Its own objects: no alternates pointing into the mirror, for it or the agent's copy.
    assert not (second.git_dir / "objects" / "info" / "alternates").exists()
    assert not (second.path / ".git" / "objects" / "info" / "alternates").exists()
    assert files_holding(second.path.parent, [str(mirror)]) == []
    assert files_holding(tmp_path / "mirrors", [token]) == []


async def test_the_work_branch_on_github_is_still_found_and_reused(fake_github, tmp_path) -> None:
    """The mirror holds the default branch; the work branch is asked of GitHub, as before."""
    token = await mint(fake_github)
    await through_mirror(fake_github, token, tmp_path / "warm")
    earlier = fake_github.state.push_branch(
        REPOSITORY, WORK_BRANCH, {"NOTES.md": "first attempt\n"}, message="First attempt"
    )

    workspace = await prepare(fake_github, token, tmp_path, mirrors=tmp_path / "warm" / "mirrors")

    assert workspace.branch_existed is True
    assert workspace.base_sha == earlier


async def test_a_corrupt_mirror_costs_a_direct_clone_and_is_made_anew(
    fake_github, tmp_path
) -> None:
    """Packs the mirror lost (a disk fault): the job clones from GitHub, the mirror is removed,
    and the next job makes a good one."""
    token = await mint(fake_github)
    await through_mirror(fake_github, token, tmp_path / "one")
    mirror = mirror_path(fake_github, tmp_path / "one")
    for pack in (mirror / "objects").rglob("*"):
        if pack.is_file():
            pack.write_bytes(b"garbage")

    workspace = await prepare(
        fake_github, token, tmp_path / "two", mirrors=tmp_path / "one" / "mirrors"
    )

    assert workspace.base_sha == gitrepo.branch_sha(bare(fake_github), "main")
    assert (workspace.path / "hello" / "greet.py").is_file()
    assert not mirror.exists()
    again = await prepare(
        fake_github, token, tmp_path / "three", mirrors=tmp_path / "one" / "mirrors"
    )
    assert gitrepo.branch_sha(mirror, "main") == again.base_sha


async def test_a_refused_token_fails_as_a_plain_clone_would_and_leaves_no_mirror(
    fake_github, tmp_path
) -> None:
    """GitHub's refusal is the job's error, in the same words, with nothing made for it."""
    fake_github.state.add_repository("octo-org", "private", {"SECRET.md": "no\n"}, private=True)
    token = await mint(fake_github)

    with pytest.raises(GitError, match="cannot see it") as raised:
        await through_mirror(
            fake_github, token, tmp_path, clone_url=fake_github.clone_url("octo-org/private")
        )

    assert raised.value.step == "clone"
    assert token not in str(raised.value)
    assert list((tmp_path / "jobs").iterdir()) == []
    assert [p.name for p in (tmp_path / "mirrors").iterdir() if p.is_dir()] == []


async def test_a_revoked_token_leaves_a_good_mirror_in_place(fake_github, tmp_path) -> None:
    """GitHub at fault is not the mirror's fault: the mirror stays for the next job."""
    token = await mint(fake_github)
    await through_mirror(fake_github, token, tmp_path / "one")
    fake_github.state.tokens[token].revoked = True

    with pytest.raises(GitError, match="refused the App's token"):
        await prepare(fake_github, token, tmp_path / "two", mirrors=tmp_path / "one" / "mirrors")

    assert gitrepo.branch_sha(mirror_path(fake_github, tmp_path / "one"), "main")


async def test_jobs_for_one_repository_at_once_share_one_mirror(fake_github, tmp_path) -> None:
    """Concurrent clones wait for each other's fetch rather than corrupt the mirror."""
    token = await mint(fake_github)
    workspaces = await asyncio.gather(
        *(
            prepare(fake_github, token, tmp_path / f"job-{n}", mirrors=tmp_path / "mirrors")
            for n in range(4)
        )
    )
    main_head = gitrepo.branch_sha(bare(fake_github), "main")
    assert {workspace.base_sha for workspace in workspaces} == {main_head}
    assert [p.name for p in (tmp_path / "mirrors").iterdir() if p.is_dir()] == [
        mirror_path(fake_github, tmp_path).name
    ]


async def test_a_mirror_no_job_used_for_the_retention_period_is_swept(
    fake_github, tmp_path, store: SQLiteStore
) -> None:
    """Old mirrors go with the retention sweep; a recent one, or one a job holds, stays."""
    token = await mint(fake_github)
    await through_mirror(fake_github, token, tmp_path)
    mirror = mirror_path(fake_github, tmp_path)
    mirrors, month = tmp_path / "mirrors", 30 * 86_400.0

    kept = await sweep(store, tmp_path / "jobs", month, time.time(), mirrors)
    assert kept.mirrors == 0 and mirror.is_dir()

    old = time.time() - 2 * month
    os.utime(mirror, (old, old))
    with git_mirror.locked(mirror):  # a job cloning from it right now
        held = await asyncio.to_thread(
            git_mirror.remove_unused_mirrors, mirrors, time.time() - month
        )
    assert held == 0 and mirror.is_dir()

    swept = await sweep(store, tmp_path / "jobs", month, time.time(), mirrors)
    assert swept.mirrors == 1 and swept.counts()["mirrors"] == 1
    assert not mirror.exists()


def test_the_service_clones_through_mirrors_unless_turned_off(tmp_path) -> None:
    """FIXWRIGHT_GIT_MIRRORS decides whether the workspaces have a mirror directory."""
    from app.sandbox_service import host_workspaces

    on = host_workspaces(Settings(state_dir=str(tmp_path)))
    off = host_workspaces(Settings(state_dir=str(tmp_path), git_mirrors=False))
    assert on.mirrors == (tmp_path / "mirrors").resolve()
    assert off.mirrors is None
