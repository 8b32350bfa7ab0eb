"""A session that outlives its container, on the real engine with the real CLI and the scripted
model: taken out after one run, put back before the next, which continues it; and what an agent
plants in its state directory is never followed, nor lets it fill the host's disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import docker
import pytest

from app.config import Settings
from app.sandbox_service import sandbox_limits
from sandbox.container import RunSpec
from sandbox.redaction import REDACTED
from sandbox.relay import ModelRelay
from sandbox.runner import Outcome, RunResult, run_in_sandbox
from sandbox.session import STATE_DIRECTORY_PREFIX, Transcript, is_session_id
from sandbox.workspace import copy_repository
from tests.fakes.model.scenario import Scenario
from tests.fixtures.sandbox import make_repository

pytestmark = pytest.mark.docker

MARKER = "first-run-marker-7c1e"
SECRET = "operator-secret-canary-93b1d0"
GITHUB_TOKEN = "ghs_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


@dataclass
class Runs:
    """Runs of the real runner, each on a fresh copy of a small repository."""

    docker_client: docker.DockerClient
    relay: ModelRelay
    settings: Settings
    directory: Path
    count: int = 0

    async def run(
        self,
        prompt: str,
        *,
        resume: Transcript | None = None,
        secrets: tuple[str, ...] = (),
        settings: Settings | None = None,
    ) -> tuple[RunResult, Path]:
        self.count += 1
        source = make_repository(self.directory / f"source-{self.count}")
        parent = self.directory / f"job-{self.count}"
        parent.mkdir()
        workspace = copy_repository(source, parent)
        spec = RunSpec(
            job_id=f"session-{self.directory.name}-{self.count}",
            workspace=workspace.path,
            prompt=prompt,
            resume=resume,
        )
        result = await run_in_sandbox(
            spec,
            sandbox_limits(settings or self.settings),
            docker_client=self.docker_client,
            relay=self.relay,
            secrets=secrets,
        )
        return result, parent


@pytest.fixture
def runs(docker_client, sandbox_relay, sandbox_settings, short_dir) -> Runs:
    return Runs(docker_client, sandbox_relay, sandbox_settings, short_dir)


def agent_turns(fake_model) -> list[dict]:
    return [request.body for request in fake_model.api.scenario_requests]


async def test_a_second_run_resumes_the_first_runs_session(fake_model, runs: Runs) -> None:
    """Run 1's transcript, put back before run 2, brings its turns into run 2's first request;
    run 2 appends to the same session, and no state directory outlives a run."""
    fake_model.set_scenario(Scenario([Scenario.run(f"echo {MARKER}"), Scenario.say("first")]))
    first, first_job = await runs.run("Fix the first thing")

    assert first.outcome is Outcome.SUCCESS
    assert first.transcript is not None
    assert is_session_id(first.transcript.session_id)
    lines = first.transcript.data.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert MARKER.encode() in first.transcript.data
    assert not [p for p in first_job.iterdir() if p.name.startswith(STATE_DIRECTORY_PREFIX)]

    # Answers are chosen by the assistant turns a request already holds: run 1 left two.
    fake_model.set_scenario(
        Scenario([Scenario.say("-"), Scenario.say("-"), Scenario.say("second")])
    )
    seen_before = len(agent_turns(fake_model))
    second, second_job = await runs.run("Now the second thing", resume=first.transcript)

    assert second.outcome is Outcome.SUCCESS
    assert second.summary == "second"
    request = json.dumps(agent_turns(fake_model)[seen_before]["messages"])
    assert "Fix the first thing" in request
    assert MARKER in request
    assert "Now the second thing" in request
    assert request.index("Fix the first thing") < request.index("Now the second thing")
    assert second.transcript is not None
    assert second.transcript.session_id == first.transcript.session_id
    assert b"Now the second thing" in second.transcript.data
    assert b"Fix the first thing" in second.transcript.data
    assert not [p for p in second_job.iterdir() if p.name.startswith(STATE_DIRECTORY_PREFIX)]


async def test_the_transcript_comes_out_with_secrets_and_tokens_redacted(
    fake_model, runs: Runs
) -> None:
    """What a tool printed is in the transcript; a secret value and a token shape are not."""
    fake_model.set_scenario(
        Scenario([Scenario.run(f"echo {SECRET} {GITHUB_TOKEN} {MARKER}"), Scenario.say("ok")])
    )
    result, _ = await runs.run("Print them", secrets=(SECRET,))

    assert result.transcript is not None
    assert MARKER.encode() in result.transcript.data
    assert SECRET.encode() not in result.transcript.data
    assert GITHUB_TOKEN.encode() not in result.transcript.data
    assert REDACTED.encode() in result.transcript.data


async def test_a_link_the_agent_puts_in_place_of_its_transcript_is_not_followed(
    fake_model, runs: Runs, short_dir: Path
) -> None:
    """The link names a host file of JSON lines: followed, it would come back as the session."""
    host_file = short_dir / "host-file.jsonl"
    host_file.write_text(json.dumps({"host": "never leaves the host"}) + "\n")
    plant = (
        'cd "$CLAUDE_CONFIG_DIR/projects/-workspace" && for f in *.jsonl; do '
        f'rm "$f" && ln -s {host_file} "$f"; done; ls -l; echo planted'
    )
    fake_model.set_scenario(Scenario([Scenario.run(plant), Scenario.say("done")]))
    result, _ = await runs.run("Plant a link")

    assert "planted" in fake_model.tool_results[0]
    assert result.transcript is None
    assert host_file.read_text() == json.dumps({"host": "never leaves the host"}) + "\n"


async def test_the_clis_state_directory_is_held_to_its_disk_cap(
    fake_model, runs: Runs, sandbox_settings: Settings
) -> None:
    """The state directory is on the host's disk: past its cap the run is stopped, as for the
    workspace, and says where."""
    fill = 'head -c 100000000 /dev/zero > "$CLAUDE_CONFIG_DIR/filler"; sleep 100'
    fake_model.set_scenario(Scenario([Scenario.run(fill), Scenario.say("never")]))
    settings = replace(sandbox_settings, sandbox_transcript_max_bytes=64 * 1024)
    result, _ = await runs.run("Fill the disk", settings=settings)

    assert result.outcome is Outcome.WORKSPACE_LIMIT
    assert result.limit_passed == "more than 64.0 MB on disk in Claude Code's session files"
