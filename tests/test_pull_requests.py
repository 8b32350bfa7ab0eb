"""The draft pull request: its title and body, and one PR per issue branch however often a job runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from githubkit import GitHub
from githubkit.exception import RequestFailed

from app.github_app import GitHubApp
from handlers.common.ci_files import CiReason, CiTouch
from handlers.common.run_stats import RunStats, render_duration, render_run_stats
from handlers.common.untrusted_text import PATH_SHOWN_LIMIT
from handlers.fix.pull_requests import (
    PullRequestRef,
    issue_of_pr_body,
    open_or_update_draft_pr,
    render_pr_body,
    render_pr_title,
)
from sandbox.usage import JobUsage
from tests.fakes.github.fixtures import INSTALLATION_ID, MAINTAINER, REPOSITORY, FakeGitHub

BRANCH = "fixwright/issue-1"
PERMISSIONS = {"pull_requests": "write", "contents": "write"}
STATS = RunStats(
    model="claude-sonnet-4-5",
    turns=6,
    usage=JobUsage(
        input_tokens=12_345,
        output_tokens=678,
        cache_creation_input_tokens=2_000,
        cache_read_input_tokens=40_000,
    ),
    cost_usd=0.08731,
    seconds=3725,
)


@pytest.fixture
async def github(fake_github: FakeGitHub) -> AsyncIterator[GitHub]:
    """An installation client for the fake's repository, as a fix job gets it."""
    async with GitHubApp(fake_github.settings()).for_job(
        INSTALLATION_ID, REPOSITORY, PERMISSIONS
    ) as client:
        yield client


async def open_pr(github: GitHub, body: str, title: str = "Fix #1: greet") -> PullRequestRef:
    return await open_or_update_draft_pr(
        github, REPOSITORY, head_branch=BRANCH, base_branch="main", title=title, body=body
    )


# rendering


def test_the_title_names_the_issue_on_one_line() -> None:
    """The PR title is `Fix #N: <issue title>` with the issue title's whitespace collapsed."""
    assert (
        render_pr_title("greet()  forgets\nthe comma", 12) == "Fix #12: greet() forgets the comma"
    )


def test_a_long_title_is_shortened_to_fit_github() -> None:
    """An issue title longer than GitHub accepts is cut with an ellipsis."""
    title = render_pr_title("x" * 400, 3)
    assert len(title) <= 256 and title.endswith("…")


def test_the_body_links_the_issue_and_lists_summary_files_and_cost() -> None:
    """The body closes the issue, quotes Claude's summary, lists the files and ends with the cost."""
    body = render_pr_body(
        7, "Added the comma to `greet`.", ["tests/test_greet.py", "hello/greet.py"], STATS
    )
    assert body.splitlines()[0] == "<!-- fixwright:pr issue=7 -->"
    assert issue_of_pr_body(body) == 7
    assert "Fixes #7" in body
    assert "## Summary\n\nAdded the comma to `greet`." in body
    assert "## Files changed\n\n- `hello/greet.py`\n- `tests/test_greet.py`" in body
    footer = body.strip().splitlines()[-1]
    assert footer.startswith("<sub>") and footer.endswith("</sub>")
    for shown in ("`claude-sonnet-4-5`", "6 turns", "12,345 in", "678 out", "40,000 cache read"):
        assert shown in footer
    assert "2,000 cache write" in footer and "$0.0873" in footer and "1 h 2 min" in footer


def test_a_body_without_a_summary_says_so() -> None:
    """When Claude wrote no summary the body says so instead of leaving an empty section."""
    body = render_pr_body(2, "  ", ["a.py"])
    assert "Claude did not write a summary" in body
    assert "<sub>" not in body


def test_file_names_cannot_break_the_markdown() -> None:
    """A file name with a backtick or a newline stays inside its list item."""
    body = render_pr_body(2, "s", ["we`ird\nname.py"])
    assert "- `we'ird name.py`" in body


def test_a_huge_change_lists_the_first_files_and_counts_the_rest() -> None:
    """With hundreds of files, the list is cut and says how many more there are."""
    body = render_pr_body(2, "s", [f"f{i:03}.py" for i in range(250)])
    assert "- `f099.py`" in body and "- `f100.py`" not in body
    assert "- … and 150 more" in body


def test_a_very_long_file_name_is_cut_so_the_body_stays_within_githubs_limit() -> None:
    """A hundred file names of 4,000 characters still make a body GitHub accepts."""
    body = render_pr_body(2, "s", [f"{i:03}" + "x" * 4000 for i in range(100)])
    assert len(body) < 65_536
    assert f"- `000{'x' * (PATH_SHOWN_LIMIT - 4)}…`" in body


def test_the_body_warns_when_the_change_touches_what_ci_executes() -> None:
    """Each changed file CI runs is named with why, in a warning between the files and the note."""
    touches = (
        CiTouch("scripts/check.sh", CiReason.RUN_STEP, ".github/workflows/ci.yml"),
        CiTouch(
            "tools/act/index.js", CiReason.LOCAL_ACTION, ".github/workflows/ci.yml", "tools/act"
        ),
        CiTouch("pyproject.toml", CiReason.BUILD_CONFIG),
        CiTouch(".gitlab-ci.yml", CiReason.CI_SERVICE),
    )
    body = render_pr_body(2, "s", ["scripts/check.sh", "pyproject.toml"], STATS, touches)
    warning = body[body.index("> [!WARNING]") : body.index("> [!NOTE]")]
    assert "**This change touches files that CI executes.**" in warning
    assert "> - `scripts/check.sh`: named by a `run:` step in `.github/workflows/ci.yml`" in warning
    assert "> - `tools/act/index.js`: part of the local action `./tools/act` that" in warning
    assert "> - `pyproject.toml`: build or test configuration" in warning
    assert "> - `.gitlab-ci.yml`: configuration of a CI service" in warning
    assert body.index("## Files changed") < body.index("> [!WARNING]")
    assert "[!WARNING]" not in render_pr_body(2, "s", ["hello/greet.py"], STATS)


def test_durations_read_naturally() -> None:
    """Durations show in seconds, minutes and hours as a person would write them."""
    assert [render_duration(s) for s in (4.4, 185, 7260)] == ["4 s", "3 min 5 s", "2 h 1 min"]
    assert "1 turn ·" in render_run_stats(
        RunStats(model="", turns=1, usage=JobUsage(), cost_usd=0, seconds=1)
    )


# on GitHub


async def test_a_first_run_opens_a_draft_pr_from_the_issue_branch(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """With no PR for the branch yet, a draft PR into the default branch is opened."""
    state = fake_github.state
    state.push_branch(REPOSITORY, BRANCH, {"hello/greet.py": "fixed\n"})
    body = render_pr_body(1, "Added the comma.", ["hello/greet.py"], STATS)
    ref = await open_pr(github, body)
    pull = state.pulls[(REPOSITORY, ref.number)]
    issue = state.issues[(REPOSITORY, ref.number)]
    assert ref.created and pull.draft
    assert (pull.head, pull.base) == (BRANCH, "main")
    assert (issue.title, issue.body) == ("Fix #1: greet", body)
    assert ref.html_url.endswith(f"/{REPOSITORY}/pull/{ref.number}")


async def test_a_later_run_updates_the_same_pr(fake_github: FakeGitHub, github: GitHub) -> None:
    """Running again for the issue refreshes the open PR's title and body; no second PR is opened."""
    state = fake_github.state
    state.push_branch(REPOSITORY, BRANCH, {"hello/greet.py": "fixed\n"})
    first = await open_pr(github, "first body")
    state.push_branch(REPOSITORY, BRANCH, {"hello/greet.py": "fixed again\n"})
    second = await open_pr(github, "second body", title="Fix #1: greet, again")
    assert not second.created
    assert second.number == first.number and second.html_url == first.html_url
    [pull] = state.pulls.values()
    issue = state.issues[(REPOSITORY, pull.number)]
    assert (issue.title, issue.body) == ("Fix #1: greet, again", "second body")


async def test_a_closed_pr_is_not_reopened_but_replaced(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """When the maintainer closed the earlier PR, a new run opens a fresh draft."""
    state = fake_github.state
    state.push_branch(REPOSITORY, BRANCH, {"hello/greet.py": "fixed\n"})
    first = await open_pr(github, "first body")
    state.issues[(REPOSITORY, first.number)].state = "closed"
    second = await open_pr(github, "second body")
    assert second.created and second.number != first.number


async def test_a_pr_from_another_branch_is_left_alone(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """Someone else's open PR is never taken for the issue's PR."""
    state = fake_github.state
    state.push_branch(REPOSITORY, "feature", {"README.md": "changed\n"})
    other = state.open_pull_request(REPOSITORY, "feature", "Unrelated", "mine")
    state.push_branch(REPOSITORY, BRANCH, {"hello/greet.py": "fixed\n"})
    ref = await open_pr(github, "body")
    assert ref.created and ref.number != other.number
    assert state.issues[(REPOSITORY, other.number)].body == "mine"


async def test_a_branch_without_commits_is_an_error_from_github(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """Opening a PR for a branch with nothing new fails loudly rather than pretending it worked."""
    fake_github.state.push_branch(REPOSITORY, BRANCH, {})  # an empty commit: no diff
    with pytest.raises(RequestFailed) as failure:
        await open_pr(github, "body")
    assert failure.value.response.status_code == 422


async def test_a_users_public_profile_gives_the_id_for_a_noreply_address(
    fake_github: FakeGitHub, github: GitHub
) -> None:
    """`GET /users/{login}` answers a PublicUser whose id builds the requester's noreply address."""
    response = await github.rest.users.async_get_by_username(MAINTAINER)
    profile = response.parsed_data
    assert (profile.login, profile.id) == (MAINTAINER, fake_github.state.users[MAINTAINER].id)
    with pytest.raises(RequestFailed) as failure:
        await github.rest.users.async_get_by_username("nobody-here")
    assert failure.value.response.status_code == 404
