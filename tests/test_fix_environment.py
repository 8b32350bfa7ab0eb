"""A fix in the repository's own environment, in process: which description applies, what the
sandbox is asked to prepare, and what the thread hears when it cannot be."""

from __future__ import annotations

import io
import tarfile

from app.environment_config import DEFAULT_KEY_FILES
from app.store import JobState
from sandbox.environment import EnvironmentFailed, Prepared
from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.github.gitrepo import rev_parse_blob
from tests.fixtures.inprocess import Engine, EngineFactory, finished
from tests.test_fix_handler import fix_command, the_fix
from tests.test_fix_loop import label_delivery, progress_comments

ENVIRONMENT = (
    "environment:\n"
    "  image: fixwright-sandbox:latest\n"
    "  setup: pip install --user pytest\n"
    "  cache_key_files: [pyproject.toml]\n"
)


def commit_to_main(engine: Engine, files: dict[str, str | None]) -> None:
    engine.github.state.push_branch(REPOSITORY, "main", files, message="Describe the environment")


async def test_the_repositorys_file_describes_the_environment_the_agent_runs_in(
    engine: Engine,
) -> None:
    """Its image and set-up are asked for, keyed by its files' blobs; the run uses the result."""
    commit_to_main(engine, {".github/fixwright.yml": ENVIRONMENT})
    engine.script(the_fix(engine))
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED)

    [(spec, allowlist)] = engine.sandbox.environments
    bare = engine.github.state.repositories[REPOSITORY].path
    assert (spec.base_image, spec.setup) == (
        "fixwright-sandbox:latest",
        ("pip install --user pytest",),
    )
    assert spec.key_material == (
        ("pyproject.toml", rev_parse_blob(bare, "main", "pyproject.toml")),
    )
    assert spec.description == ".github/fixwright.yml" and allowlist
    [run] = engine.sandbox.specs
    assert run.image == "fixwright-env:prepared"


async def test_without_a_description_the_sandbox_image_runs_as_it_is(engine: Engine) -> None:
    """No file, no devcontainer: nothing is prepared and the run names no image of its own."""
    engine.script(the_fix(engine))
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED)
    assert engine.sandbox.environments == []
    assert engine.sandbox.specs[0].image is None


async def test_a_devcontainer_is_read_from_the_commit_the_job_starts_from(engine: Engine) -> None:
    """Its Dockerfile's directory is the build context, taken from the host's git objects."""
    commit_to_main(
        engine,
        {
            ".devcontainer/devcontainer.json": (
                '{\n  // built here\n  "build": {"dockerfile": "Dockerfile"},\n'
                '  "postCreateCommand": "pip install -e .",\n}\n'
            ),
            ".devcontainer/Dockerfile": "FROM fixwright-sandbox:latest\n",
        },
    )
    engine.script(the_fix(engine))
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED)

    [(spec, _)] = engine.sandbox.environments
    assert (spec.dockerfile, spec.setup) == ("Dockerfile", ("pip install -e .",))
    assert spec.description == ".devcontainer/devcontainer.json"
    assert spec.key_material and {path for path, _ in spec.key_material} <= set(DEFAULT_KEY_FILES)
    assert spec.context_tar is not None
    with tarfile.open(fileobj=io.BytesIO(spec.context_tar)) as context:
        assert sorted(context.getnames()) == ["Dockerfile", "devcontainer.json"]


async def test_an_invalid_description_is_reported_with_its_lines_and_nothing_runs(
    engine: Engine,
) -> None:
    """Each problem names the file and line; the job fails before any container."""
    commit_to_main(
        engine,
        {".github/fixwright.yml": "environment:\n  image: python:3.12\n  network: host\n"},
    )
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )

    assert "`.github/fixwright.yml` line 3: unknown key `environment.network`" in job.summary
    assert engine.sandbox.specs == [] and engine.sandbox.environments == []
    [comment] = engine.github.state.issue_comments(REPOSITORY, 1)
    assert "line 3" in comment.body


async def test_a_devcontainer_problem_is_told_in_the_progress_comment(engine: Engine) -> None:
    """A broken devcontainer.json stops the job, its line in the thread, with the next step."""
    commit_to_main(engine, {".devcontainer/devcontainer.json": '{\n  "image": 7\n}\n'})
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )

    assert "`.devcontainer/devcontainer.json` line 2: `image` must be an image name" in job.summary
    [progress] = progress_comments(engine.github)
    assert "line 2" in progress.body and "comment `/fix` to try again" in progress.body
    assert engine.sandbox.specs == []


async def test_a_set_up_that_reached_a_host_off_the_list_names_it(engine: Engine) -> None:
    """The proxy's refusals are part of the reason, shown as inert code."""
    commit_to_main(engine, {".github/fixwright.yml": ENVIRONMENT})
    engine.sandbox.environment_outcome = EnvironmentFailed(
        "the environment's set-up failed (exit code 1)",
        "Fix the set-up commands (or the hosts they reach), then try again.",
        refused=["evil.example", "evil.example", "`back`tick.example"],
    )
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )

    assert "refused connections to `evil.example`, `'back'tick.example`" in job.summary
    assert engine.sandbox.specs == []


async def test_a_repository_cannot_widen_the_operators_allow_list(
    make_engine: EngineFactory,
) -> None:
    """Hosts the operator's list does not cover are refused by name, before anything runs."""
    engine = await make_engine(egress_allowlist=("*.mirror.example",))
    commit_to_main(
        engine,
        {
            ".github/fixwright.yml": ENVIRONMENT
            + "  allow_hosts: [pkgs.mirror.example, anywhere.example]\n"
        },
    )
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )
    assert "`anywhere.example` is not in the operator's allow-list" in job.summary

    commit_to_main(
        engine, {".github/fixwright.yml": ENVIRONMENT + "  allow_hosts: [pkgs.mirror.example]\n"}
    )
    engine.sandbox.environment_outcome = Prepared("fixwright-env:narrow", "1" * 64, True, 0.1)
    engine.script(the_fix(engine))
    # A comment, not the same label again: a body seen before is a replay, whatever its delivery id.
    again = fix_command(engine, "/fix")
    finished(await engine.run_delivery("issue_comment", again), JobState.SUCCEEDED)
    assert engine.sandbox.environments[-1][1] == ("pkgs.mirror.example",)
