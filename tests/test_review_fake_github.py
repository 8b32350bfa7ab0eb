"""What the fake GitHub adds for reviews: fork PRs, `refs/pull/N/head` over git, review comments."""

from __future__ import annotations

import pytest
from githubkit.exception import RequestFailed

from tests.fakes.github import gitrepo, pull_heads
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.test_fake_github import client, git, mint

READ_REVIEW = {"contents": "read", "pull_requests": "write"}


async def test_a_fork_pull_request_is_served_through_refs_pull_head(
    fake_github: FakeGitHub, tmp_path
) -> None:
    """A fork's PR names the fork as its head repository, and its head is fetchable from the base repository."""
    state = fake_github.state
    fork = pull_heads.fork(state, REPOSITORY, "contributor")
    sha = state.push_branch(fork.full_name, "patch-1", {"hello/greet.py": "x = 1\n"})
    number = pull_heads.open_fork_pull_request(
        state, REPOSITORY, fork.full_name, "patch-1", "From a fork"
    ).number
    token = mint(fake_github, permissions=READ_REVIEW, repositories=["hello"])["token"]
    gh = client(fake_github, token)
    pull = (await gh.rest.pulls.async_get("octo-org", "hello", number)).parsed_data
    assert pull.head.repo is not None and pull.head.repo.full_name == "contributor/hello"
    assert pull.head.sha == sha and pull.head.label == "contributor:patch-1"
    files = (await gh.rest.pulls.async_list_files("octo-org", "hello", number)).parsed_data
    assert [f.filename for f in files] == ["hello/greet.py"]
    url = fake_github.clone_url(REPOSITORY, token)
    listed = git("ls-remote", url, f"refs/pull/{number}/head")
    assert listed.stdout.split() == [sha, f"refs/pull/{number}/head"], listed.stderr


async def test_review_comments_are_listed_and_off_diff_ranges_are_refused(
    fake_github: FakeGitHub,
) -> None:
    """Inline comments come back from GET /pulls/N/comments; a range starting off the diff gets GitHub's 422."""
    state = fake_github.state
    state.push_branch(REPOSITORY, "f", {"hello/new.py": "a\nb\nc\n"})  # additions only
    number = state.open_pull_request(REPOSITORY, "f", "Change greet").number
    token = mint(fake_github, permissions=READ_REVIEW, repositories=["hello"])["token"]
    gh = client(fake_github, token)
    comment = {"path": "hello/new.py", "line": 2, "side": "RIGHT", "body": "Hm <!-- m -->"}
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.pulls.async_create_review(
            "octo-org",
            "hello",
            number,
            body="S",
            event="COMMENT",
            comments=[{**comment, "start_line": 1, "start_side": "LEFT"}],
        )
    assert refused.value.response.status_code == 422
    await gh.rest.pulls.async_create_review(
        "octo-org", "hello", number, body="S", event="COMMENT", comments=[comment]
    )
    listed = (
        await gh.rest.pulls.async_list_review_comments("octo-org", "hello", number)
    ).parsed_data
    assert [(c.path, c.line, c.side, c.body) for c in listed] == [
        ("hello/new.py", 2, "RIGHT", "Hm <!-- m -->")
    ]
    assert listed[0].user is not None and listed[0].user.login == state.bot_login


async def test_a_comparison_names_exactly_the_commits_asked_for(fake_github: FakeGitHub) -> None:
    """`compare/{base}...{head}` by sha parses with githubkit's model and ignores later pushes."""
    state = fake_github.state
    bare = state.repositories[REPOSITORY].path
    base = gitrepo.branch_sha(bare, "main")
    head = state.push_branch(REPOSITORY, "f", {"hello/new.py": "a\n"}, message="Add new")
    state.push_branch(REPOSITORY, "f", {"hello/later.py": "b\n"}, message="Later")
    token = mint(fake_github, permissions={"contents": "read"}, repositories=["hello"])["token"]
    gh = client(fake_github, token)
    compared = (
        await gh.rest.repos.async_compare_commits("octo-org", "hello", f"{base}...{head}")
    ).parsed_data
    assert [f.filename for f in compared.files or []] == ["hello/new.py"]
    assert (compared.status, compared.ahead_by, compared.behind_by) == ("ahead", 1, 0)
    assert compared.merge_base_commit.sha == base
    assert [c.sha for c in compared.commits] == [head]
    with pytest.raises(RequestFailed) as unknown:
        await gh.rest.repos.async_compare_commits("octo-org", "hello", f"{base}...{'0' * 40}")
    assert unknown.value.response.status_code == 404


async def test_a_review_is_anchored_to_the_diff_of_its_commit(fake_github: FakeGitHub) -> None:
    """A review on an older head takes comments on that commit's lines; an unknown commit gets 422."""
    state = fake_github.state
    old = state.push_branch(REPOSITORY, "f", {"hello/new.py": "a\nb\n"})
    number = state.open_pull_request(REPOSITORY, "f", "Add new").number
    state.push_branch(REPOSITORY, "f", {"hello/new.py": None, "hello/other.py": "c\n"})
    token = mint(fake_github, permissions=READ_REVIEW, repositories=["hello"])["token"]
    gh = client(fake_github, token)
    comment = {"path": "hello/new.py", "line": 2, "side": "RIGHT", "body": "On the old head"}
    review = (
        await gh.rest.pulls.async_create_review(
            "octo-org",
            "hello",
            number,
            commit_id=old,
            body="S",
            event="COMMENT",
            comments=[comment],
        )
    ).parsed_data
    assert review.commit_id == old
    with pytest.raises(RequestFailed) as refused:
        await gh.rest.pulls.async_create_review(
            "octo-org", "hello", number, commit_id="f" * 40, body="S", event="COMMENT"
        )
    assert refused.value.response.status_code == 422
