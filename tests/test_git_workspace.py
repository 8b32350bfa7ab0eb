"""The host-side git workspace of a job, against the fake GitHub's real git smart HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from app.config import Settings
from app.github_app import GitHubApp
from app.sandbox_service import sandbox_limits
from sandbox.container import (
    AGENT_UID,
    WORKSPACE,
    RunSpec,
    container_kwargs,
    remove_container,
)
from sandbox.git_command import git_authorization
from sandbox.git_workspace import (
    GitError,
    JobWorkspace,
    PushRejected,
    changed_files,
    commit_changes,
    diff_text,
    find_secrets,
    prepare_workspace,
    push,
    remove_workspace,
)
from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub

WORK_BRANCH = "fixwright/issue-1"
BOT = ("fixwright[bot]", "4242+fixwright[bot]@users.noreply.example")
REQUESTER = ("octocat", "1001+octocat@users.noreply.example")
FIXED_GREET = (
    '"""Build greetings."""\n\n\ndef greet(name: str) -> str:\n'
    '    """Greet `name` politely."""\n    return "Hello, " + name + "!"\n'
)


async def mint(fake_github: FakeGitHub, contents: str = "write") -> str:
    """An installation token for the fixture repository with `contents` access."""
    app = GitHubApp(fake_github.settings())
    token = await app.installation_token(INSTALLATION_ID, REPOSITORY, {"contents": contents})
    return token.token


async def prepare(fake_github: FakeGitHub, token: str, tmp_path: Path, **kwargs) -> JobWorkspace:
    """A workspace for issue 1 of the fixture repository under `tmp_path/jobs`."""
    options = {
        "clone_url": fake_github.clone_url(),
        "token": token,
        "default_branch": "main",
        "work_branch": WORK_BRANCH,
        "parent": tmp_path / "jobs",
        **kwargs,
    }
    return await prepare_workspace(**options)


async def commit(workspace: JobWorkspace, message: str = "Add the missing comma") -> str | None:
    """Commit as the App's bot with the requester as co-author."""
    return await commit_changes(
        workspace,
        message=message,
        author_name=BOT[0],
        author_email=BOT[1],
        co_authors=[REQUESTER],
    )


def bare(fake_github: FakeGitHub) -> Path:
    """The fake's bare repository behind the fixture repository."""
    return fake_github.state.repositories[REPOSITORY].path


def files_holding(root: Path, needles: list[str]) -> list[str]:
    """Every file under `root` (hidden ones and `.git` included) whose bytes hold a needle."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(str(path))
    return found


async def test_a_fresh_clone_creates_the_work_branch_from_the_default_branch(
    fake_github, tmp_path
) -> None:
    """Without a remote work branch the job starts a new one at the default branch's head."""
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)

    main_head = gitrepo.branch_sha(bare(fake_github), "main")
    assert workspace.branch == WORK_BRANCH
    assert workspace.branch_existed is False
    assert workspace.base_sha == main_head
    assert (workspace.path / "hello" / "greet.py").read_text().endswith('"Hello " + name\n')
    assert not workspace.git_dir.is_relative_to(workspace.path)
    expected_owner = AGENT_UID if os.geteuid() == 0 else os.geteuid()
    assert (workspace.path / "hello" / "greet.py").stat().st_uid == expected_owner
    assert WORK_BRANCH not in fake_github.state.branches(REPOSITORY)


async def test_the_agent_sees_an_ordinary_git_repository_on_its_branch(
    fake_github, tmp_path
) -> None:
    """Inside the checkout, plain git (as the agent in the container runs it) works."""
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)
    (workspace.path / "notes.txt").write_text("thinking\n")

    def agent_git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", f"safe.directory={workspace.path}", "-C", str(workspace.path), *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert agent_git("branch", "--show-current").strip() == WORK_BRANCH
    assert "notes.txt" in agent_git("status", "--porcelain")
    assert agent_git("remote", "get-url", "origin").strip() == fake_github.clone_url()


def run_as_agent(docker_client, image: str, workspace: Path, script: str) -> tuple[int, str]:
    """Run `script` in the hardened sandbox container on the checkout, as the agent would."""
    spec = RunSpec(job_id=f"git-workspace-{uuid.uuid4().hex[:12]}", workspace=workspace, prompt="")
    kwargs = container_kwargs(
        spec,
        sandbox_limits(Settings(webhook_secrets=("unused",), sandbox_image=image)),
        relay_socket=workspace / "unused.sock",
        capability="unused",
    )
    kwargs["volumes"] = {str(workspace): {"bind": WORKSPACE, "mode": "rw"}}
    kwargs.update(
        entrypoint=["/bin/sh", "-c", script],
        command=[],
        environment={"HOME": "/home/agent", "GREET": FIXED_GREET},
        stdin_open=False,
    )
    del kwargs["detach"]
    container = docker_client.containers.create(**kwargs)
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        remove_container(container)


@pytest.mark.docker
async def test_work_done_in_the_sandbox_as_the_agent_is_committed_by_the_host(
    fake_github, tmp_path, docker_client, sandbox_image
) -> None:
    """Files and even commits the agent makes in the container end up in one commit by the App."""
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    script = (
        "set -e; printf '%s' \"$GREET\" > hello/greet.py; echo new > added.txt; "
        "git -c user.name=agent -c user.email=agent@sandbox add -A; "
        "git -c user.name=agent -c user.email=agent@sandbox commit -q -m 'agent commit'; "
        "git log -1 --format=%s"
    )
    status, output = await asyncio.to_thread(
        run_as_agent, docker_client, sandbox_image, workspace.path, script
    )
    assert (status, output.strip()) == (0, "agent commit")

    assert await changed_files(workspace) == ["added.txt", "hello/greet.py"]
    sha = await commit(workspace)
    await push(workspace, clone_url=fake_github.clone_url(), token=token)

    ref = f"refs/heads/{WORK_BRANCH}"
    assert gitrepo.branch_sha(bare(fake_github), WORK_BRANCH) == sha
    assert gitrepo.rev_parse(bare(fake_github), f"{ref}^") == workspace.base_sha
    assert gitrepo.commit_author(bare(fake_github), ref) == BOT
    assert fake_github.state.branch_files(REPOSITORY, WORK_BRANCH)["added.txt"] == "new\n"


async def test_an_existing_remote_branch_is_reused_and_new_commits_go_on_top(
    fake_github, tmp_path
) -> None:
    """A retried job continues the branch it pushed before instead of starting a second one."""
    earlier = fake_github.state.push_branch(
        REPOSITORY, WORK_BRANCH, {"NOTES.md": "first attempt\n"}, message="First attempt"
    )
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)

    assert workspace.branch_existed is True
    assert workspace.base_sha == earlier
    assert (workspace.path / "NOTES.md").read_text() == "first attempt\n"

    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    sha = await commit(workspace)
    await push(workspace, clone_url=fake_github.clone_url(), token=token)

    repo = bare(fake_github)
    assert gitrepo.branch_sha(repo, WORK_BRANCH) == sha
    assert gitrepo.rev_parse(repo, f"{sha}^") == earlier
    assert sorted(fake_github.state.branches(REPOSITORY)) == ["fixwright/issue-1", "main"]


async def test_a_commit_and_push_land_on_the_fake_as_the_bot_with_a_co_author(
    fake_github, tmp_path
) -> None:
    """The agent's edit, new file and deletion arrive on the work branch, authored by the App."""
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    (workspace.path / "CHANGELOG.md").write_text("- greet() has its comma back\n")
    (workspace.path / "README.md").unlink()

    assert await changed_files(workspace) == ["CHANGELOG.md", "README.md", "hello/greet.py"]
    sha = await commit(workspace, message="Add the missing comma\n\nFixes #1")
    assert sha is not None
    await push(workspace, clone_url=fake_github.clone_url(), token=token)

    files = fake_github.state.branch_files(REPOSITORY, WORK_BRANCH)
    assert files["hello/greet.py"] == FIXED_GREET
    assert "README.md" not in files and "CHANGELOG.md" in files
    diff = fake_github.state.branch_diff(REPOSITORY, WORK_BRANCH)
    assert '+    return "Hello, " + name + "!"' in diff
    ref = f"refs/heads/{WORK_BRANCH}"
    assert gitrepo.commit_author(bare(fake_github), ref) == BOT
    message = gitrepo.commit_message(bare(fake_github), ref)
    assert message.startswith("Add the missing comma\n\nFixes #1\n\n")
    assert message.endswith(f"Co-authored-by: {REQUESTER[0]} <{REQUESTER[1]}>")
    assert gitrepo.branch_sha(bare(fake_github), "main") == workspace.base_sha


async def test_nothing_changed_means_no_commit(fake_github, tmp_path) -> None:
    """When the agent leaves the tree as it was, there is nothing to commit or push."""
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)
    (workspace.path / "hello" / "greet.py").touch()

    assert await changed_files(workspace) == []
    assert await diff_text(workspace) == ""
    assert await commit(workspace) is None


async def test_ignored_files_stay_out_and_untracked_ones_go_in(fake_github, tmp_path) -> None:
    """New files count as changes unless the repository's .gitignore excludes them."""
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)
    (workspace.path / ".gitignore").write_text("*.log\n")
    (workspace.path / "pytest.log").write_text("1 failed\n")
    (workspace.path / "hello" / "extra.py").write_text("X = 1\n")

    assert await changed_files(workspace) == [".gitignore", "hello/extra.py"]
    assert "+X = 1" in await diff_text(workspace)
    assert "1 failed" not in await diff_text(workspace)


async def test_attributes_that_convert_on_checkout_leave_an_untouched_checkout_unchanged(
    fake_github, tmp_path
) -> None:
    """With `eol=crlf` and `ident` in `.gitattributes` the checkout is raw, so nothing reads as changed."""
    fake_github.state.push_branch(
        REPOSITORY,
        "main",
        {".gitattributes": "* text eol=crlf\n*.id ident\n", "version.id": "$Id$\n"},
    )
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)

    assert (workspace.path / "hello" / "greet.py").read_bytes().count(b"\r\n") == 0
    assert (workspace.path / "version.id").read_text() == "$Id$\n"
    assert await changed_files(workspace) == []
    assert await commit(workspace) is None


async def test_the_token_is_nowhere_in_the_workspace(fake_github, tmp_path) -> None:
    """After clone, commit and push no file of the job (`.git` included) holds the token."""
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    await commit(workspace)
    await push(workspace, clone_url=fake_github.clone_url(), token=token)

    header = git_authorization(token).removeprefix("Basic ")
    job_directory = workspace.path.parent
    assert files_holding(job_directory, [token, header]) == []
    assert files_holding(job_directory, [fake_github.clone_url()]) != []  # the search works
    for config in (workspace.git_dir / "config", workspace.path / ".git" / "config"):
        assert "extraheader" not in config.read_text().lower()


async def test_a_read_only_token_cannot_push_and_the_reason_is_readable(
    fake_github, tmp_path
) -> None:
    """GitHub's 403 on push becomes a PushRejected that says the token may not push."""
    token = await mint(fake_github, contents="read")
    workspace = await prepare(fake_github, token, tmp_path)
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    await commit(workspace)

    with pytest.raises(PushRejected) as raised:
        await push(workspace, clone_url=fake_github.clone_url(), token=token)

    assert raised.value.step == "push"
    assert "may not" in str(raised.value) and "write access" in str(raised.value)
    assert token not in str(raised.value)
    assert WORK_BRANCH not in fake_github.state.branches(REPOSITORY)


async def test_a_protected_branch_rejection_says_so(fake_github, tmp_path) -> None:
    """A push refused by branch protection is reported as such, with GitHub's words."""
    hook = bare(fake_github) / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'error: GH006: Protected branch update failed for "
        f"refs/heads/{WORK_BRANCH}.' >&2\nexit 1\n"
    )
    hook.chmod(0o755)
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    await commit(workspace)

    with pytest.raises(PushRejected, match="the branch is protected") as raised:
        await push(workspace, clone_url=fake_github.clone_url(), token=token)

    assert "GH006: Protected branch update failed" in str(raised.value)
    assert token not in str(raised.value)


async def test_a_branch_moved_meanwhile_is_not_overwritten(fake_github, tmp_path) -> None:
    """If someone pushed to the work branch during the run, the push is refused, never forced."""
    fake_github.state.push_branch(REPOSITORY, WORK_BRANCH, {"NOTES.md": "one\n"})
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    theirs = fake_github.state.push_branch(REPOSITORY, WORK_BRANCH, {"NOTES.md": "two\n"})
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    await commit(workspace)

    with pytest.raises(PushRejected, match="has commits the job does not have"):
        await push(workspace, clone_url=fake_github.clone_url(), token=token)

    assert gitrepo.branch_sha(bare(fake_github), WORK_BRANCH) == theirs


async def test_a_server_error_during_push_is_retried_and_never_called_a_rejection(
    fake_github, tmp_path
) -> None:
    """One 5xx is retried and the push lands; three in a row are a transient GitError, not a PushRejected."""
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    await commit(workspace)
    receive_pack = f"/{REPOSITORY}.git/git-receive-pack"
    fake_github.state.fail_next("POST", receive_pack, status=503)
    await push(workspace, clone_url=fake_github.clone_url(), token=token)
    assert WORK_BRANCH in fake_github.state.branches(REPOSITORY)

    (workspace.path / "hello" / "extra.py").write_text("X = 1\n")
    await commit(workspace)
    for _ in range(3):
        fake_github.state.fail_next("POST", receive_pack, status=503)
    with pytest.raises(GitError) as raised:
        await push(workspace, clone_url=fake_github.clone_url(), token=token)
    assert not isinstance(raised.value, PushRejected)
    assert raised.value.step == "push" and raised.value.transient
    assert "server error" in str(raised.value)


async def test_pushing_to_the_default_branch_is_refused(fake_github, tmp_path) -> None:
    """Neither a workspace nor a push may target the default branch."""
    token = await mint(fake_github)
    with pytest.raises(GitError, match="may not be the default branch"):
        await prepare(fake_github, token, tmp_path, work_branch="main")

    workspace = await prepare(fake_github, token, tmp_path)
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)
    await commit(workspace)
    aimed_at_main = JobWorkspace(**{**workspace.__dict__, "branch": "main"})
    with pytest.raises(PushRejected, match="never pushes to the repository's default branch"):
        await push(aimed_at_main, clone_url=fake_github.clone_url(), token=token)

    assert gitrepo.branch_sha(bare(fake_github), "main") == workspace.base_sha


async def test_a_repository_the_token_cannot_see_fails_the_clone(fake_github, tmp_path) -> None:
    """Cloning a repository outside the token's scope is a clone GitError in words."""
    fake_github.state.add_repository("octo-org", "private", {"SECRET.md": "no\n"}, private=True)
    token = await mint(fake_github)

    with pytest.raises(GitError) as raised:
        await prepare(
            fake_github, token, tmp_path, clone_url=fake_github.clone_url("octo-org/private")
        )

    assert raised.value.step == "clone"
    assert "cannot see it" in str(raised.value)
    assert token not in str(raised.value)
    assert list((tmp_path / "jobs").iterdir()) == []


async def test_a_revoked_token_and_an_unreachable_host_are_told_apart(
    fake_github, tmp_path
) -> None:
    """GitHub refusing the token and GitHub being unreachable read differently."""
    token = await mint(fake_github)
    fake_github.state.tokens[token].revoked = True
    with pytest.raises(GitError, match="refused the App's token") as refused:
        await prepare(fake_github, token, tmp_path)
    assert refused.value.step == "clone"

    with pytest.raises(GitError, match="could not be reached") as unreachable:
        await prepare(
            fake_github, token, tmp_path, clone_url="http://127.0.0.1:9/octo-org/hello.git"
        )
    assert unreachable.value.step == "clone"


async def test_a_clone_url_carrying_credentials_is_refused(fake_github, tmp_path) -> None:
    """A token inside the URL would be stored in .git/config, so such a URL is not used."""
    token = await mint(fake_github)
    with pytest.raises(GitError, match="carries credentials") as raised:
        await prepare(fake_github, token, tmp_path, clone_url=fake_github.clone_url(token=token))
    assert token not in str(raised.value)


async def test_hooks_and_settings_the_agent_plants_in_git_never_run(fake_github, tmp_path) -> None:
    """A pre-commit hook, an fsmonitor and a clean filter written by the agent do not execute."""
    token = await mint(fake_github)
    workspace = await prepare(fake_github, token, tmp_path)
    marker = tmp_path / "ran"
    agent_git = workspace.path / ".git"
    for hook in ("pre-commit", "post-commit", "pre-push", "commit-msg"):
        (agent_git / "hooks" / hook).write_text(f"#!/bin/sh\necho {hook} >> {marker}\n")
        (agent_git / "hooks" / hook).chmod(0o755)
    with (agent_git / "config").open("a") as config:
        config.write(
            f'[core]\n\tfsmonitor = "echo fsmonitor >> {marker}"\n'
            f'[filter "evil"]\n\tclean = "sh -c \'echo filter >> {marker}; cat\'"\n'
        )
    (workspace.path / ".gitattributes").write_text("* filter=evil\n")
    (workspace.path / "hello" / "greet.py").write_text(FIXED_GREET)

    sha = await commit(workspace)
    await push(workspace, clone_url=fake_github.clone_url(), token=token)

    assert sha is not None
    assert not marker.exists()
    assert not any(name.startswith(".git/") for name in await changed_files(workspace))
    files = fake_github.state.branch_files(REPOSITORY, WORK_BRANCH)
    assert files["hello/greet.py"] == FIXED_GREET
    assert not any(name.startswith(".git/") for name in files)


async def test_removing_the_workspace_leaves_nothing_behind(fake_github, tmp_path) -> None:
    """The checkout and the host's git directory are both deleted."""
    workspace = await prepare(fake_github, await mint(fake_github), tmp_path)
    await remove_workspace(workspace)
    assert not workspace.path.exists() and not workspace.git_dir.exists()
    assert list((tmp_path / "jobs").iterdir()) == []


def test_find_secrets_names_what_it_found_without_echoing_it() -> None:
    """Planted tokens and configured values are reported by name; the values never appear."""
    installation = "ghs_" + "A1b2C3d4" * 5
    anthropic = "sk-ant-api03-" + "x" * 40
    webhook = "webhook-secret-value-42"
    text = f"token={installation}\nkey: {anthropic}\nhook {webhook}\n"

    found = find_secrets(text, {"FIXWRIGHT_WEBHOOK_SECRET": webhook})

    assert found == [
        "FIXWRIGHT_WEBHOOK_SECRET",
        "a GitHub App installation token (ghs_)",
        "an Anthropic API key (sk-ant-)",
    ]
    assert not any(value in " ".join(found) for value in (installation, anthropic, webhook))
    assert "a configured secret" in find_secrets(text, [webhook])


def test_find_secrets_finds_nothing_in_ordinary_code() -> None:
    """A clean diff, and secrets too short to tell from text, yield no findings."""
    diff = '+    return "Hello, " + name + "!"\n+# ghs_ is the prefix of installation tokens\n'
    assert find_secrets(diff, ["", "name", "Hello"]) == []


async def test_a_server_error_during_the_clone_is_tried_again(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """GitHub answering 502 once is a blip: the clone is retried and the workspace is ready."""
    token = await mint(fake_github)
    fake_github.state.fail_next("GET", f"/{REPOSITORY}.git/info/refs", status=502)
    workspace = await prepare(fake_github, token, tmp_path)
    assert (workspace.path / "hello" / "greet.py").is_file()
    refs = [r.status for r in fake_github.state.requests if r.path.endswith("/info/refs")]
    assert refs[0] == 502


async def test_a_refusal_is_not_tried_again(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """A 403 is final: one attempt, and the error says why in words."""
    token = await mint(fake_github)
    fake_github.state.fail_next("GET", f"/{REPOSITORY}.git/info/refs", status=403)
    with pytest.raises(GitError) as raised:
        await prepare(fake_github, token, tmp_path)
    assert not raised.value.transient
    refs = [r.status for r in fake_github.state.requests if r.path.endswith("/info/refs")]
    assert refs == [403]
