"""What the agent leaves in the workspace is data, never configuration: attacks planted through a real run.

Each test has the agent (the real CLI in the real sandbox, driven by the scripted model) build
something into its checkout that would make host-side git run code, read a host file, hang, or
fill the disk, and shows the host reads it as data: refused by name, stored as a link, or stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github import gitrepo
from tests.fakes.github.fixtures import REPOSITORY, FakeGitHub
from tests.fakes.model.scenario import Scenario
from tests.fixtures.service import ServiceProcess
from tests.test_fix_loop import BRANCH, bare_path, label_delivery, progress_comments, wait_for_jobs
from tests.test_fix_loop_failures import assert_failed_in_thread

pytestmark = pytest.mark.docker


def run_agent(
    service_process: ServiceProcess,
    fake_model: Any,
    fake_github: FakeGitHub,
    script: str,
    **env: str,
) -> dict[str, Any]:
    """Start the service (with `env`), have the agent run `script` in its checkout, and wait."""
    fake_model.set_scenario(
        Scenario([Scenario.run(script, "Set up the change"), Scenario.say("Done.")])
    )
    service = service_process.start(**env)
    service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(service)
    return job


def nested_repository_with_a_filter(canary: Path) -> str:
    """A repository inside the checkout whose clean filter would run `env` on the host."""
    return (
        "set -e; mkdir -p vendor/sub; cd vendor/sub; git init -q; echo data > f; git add f; "
        "git -c user.name=a -c user.email=a@example.com commit -qm vendored; "
        f"git config filter.x.clean \"sh -c 'env > {canary}; cat'\"; "
        "echo '* filter=x' > .gitattributes; sleep 1; touch f"
    )


def test_a_nested_repository_with_a_filter_is_refused_and_its_filter_never_runs(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any, tmp_path: Path
) -> None:
    """The agent's `git init vendor/sub` with a clean filter: the job names it, pushes nothing, runs nothing."""
    canary = tmp_path / "filter-ran-on-the-host"

    job = run_agent(
        agent_service_process, fake_model, fake_github, nested_repository_with_a_filter(canary)
    )

    assert not canary.exists(), "the agent's filter ran on the host:\n" + canary.read_text()
    assert job["state"] == "failed", job
    assert_failed_in_thread(
        fake_github,
        "nested git repository at `vendor/sub/.git`",
        "never reads or commits one, so nothing was pushed",
    )
    assert BRANCH not in fake_github.state.branches(REPOSITORY)


@pytest.mark.parametrize(
    ("script", "words", "env"),
    [
        (
            "mkdir -p lib; python3 -c \"open('lib/.git', 'w').write('gitdir: /etc\\\\n')\"",
            ["nested git repository at `lib/.git`"],
            {},
        ),
        (
            "mkfifo results.pipe && echo '# notes' > NOTES.md",
            ["a named pipe (FIFO) at `results.pipe`"],
            {},
        ),
        (
            "head -c 3000000 /dev/zero > dataset.bin",
            [
                "a file over the limit of 2.0 MB at `dataset.bin`",
                "FIXWRIGHT_WORKSPACE_MAX_FILE_BYTES",
            ],
            {"FIXWRIGHT_WORKSPACE_MAX_FILE_BYTES": str(2 * 1024 * 1024)},
        ),
    ],
    ids=["git-file", "fifo", "large-file"],
)
def test_what_git_must_not_be_handed_is_refused_by_name(
    agent_service_process: ServiceProcess,
    fake_github: FakeGitHub,
    fake_model: Any,
    script: str,
    words: list[str],
    env: dict[str, str],
) -> None:
    """A `.git` file pointing elsewhere, a FIFO (never waited on), a file over the cap: named, not pushed."""
    job = run_agent(agent_service_process, fake_model, fake_github, script, **env)

    assert job["state"] == "failed", job
    assert_failed_in_thread(fake_github, *words, "so nothing was pushed")
    assert BRANCH not in fake_github.state.branches(REPOSITORY)


def test_a_link_to_a_host_file_is_committed_as_a_link_and_the_file_is_never_read(
    agent_service: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """`ln -s /etc/passwd leak`: the pushed blob is the link's text, never the host file's bytes."""
    fake_model.set_scenario(
        Scenario([Scenario.run("ln -s /etc/passwd leak", "Link it"), Scenario.say("Linked.")])
    )
    agent_service.post("issues", label_delivery(fake_github))
    [job] = wait_for_jobs(agent_service)

    assert job["state"] == "succeeded", job
    bare = bare_path(fake_github)
    listed = gitrepo.git("--git-dir", str(bare), "ls-tree", f"refs/heads/{BRANCH}", "leak")
    assert listed.split()[0] == "120000"
    assert gitrepo.read_file(bare, f"refs/heads/{BRANCH}", "leak") == "/etc/passwd"
    host_file = Path("/etc/passwd").read_text()
    pushed = gitrepo.git("--git-dir", str(bare), "log", "-p", f"refs/heads/{BRANCH}")
    assert host_file.splitlines()[0] not in pushed


def test_a_workspace_that_grows_past_its_cap_stops_the_run(
    agent_service_process: ServiceProcess, fake_github: FakeGitHub, fake_model: Any
) -> None:
    """Writing in a loop is stopped by the disk watch, and the thread names the limit."""
    fill = "i=0; while true; do i=$((i+1)); head -c 4000000 /dev/zero > fill-$i; sleep 0.2; done"

    job = run_agent(
        agent_service_process,
        fake_model,
        fake_github,
        fill,
        FIXWRIGHT_WORKSPACE_MAX_BYTES=str(20 * 1024 * 1024),
    )

    assert job["state"] == "failed", job
    body = assert_failed_in_thread(
        fake_github, "grew past its limit while Claude Code ran", "more than 20.0 MB on disk"
    )
    assert "FIXWRIGHT_WORKSPACE_MAX_BYTES" in body
    assert len(progress_comments(fake_github)) == 1
