"""Re-record the real CLI's stream-json transcripts the tests parse.

Run `python -m tests.fakes.model.record_transcripts` with the `claude` CLI on the PATH.

Each transcript is the real `claude -p ... --output-format stream-json --verbose` output of a run
against the fake model; the scratch paths of the run are rewritten to the sandbox's own
(`/workspace`, `/home/agent`) so the files read as a run inside the container would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.fakes.model.fixtures import fake_api_key
from tests.fakes.model.scenario import Failure, Scenario
from tests.fakes.model.server import FakeModelAPI
from tests.fakes.model.threaded import serve_in_thread

TRANSCRIPTS = Path(__file__).parent / "transcripts"
WORKSPACE = "/workspace"
HOME = "/home/agent"
# What the relay answers once a job has spent its tokens.
BUDGET_SPENT = "fixwright: this job's token budget of 300 tokens is spent"


def scenarios(workspace: str) -> dict[str, tuple[Scenario, int]]:
    """Name -> (scenario, --max-turns) for each transcript."""
    notes = f"{workspace}/notes.txt"
    return {
        "success": (
            Scenario(
                [
                    Scenario.run("echo hello from bash", "Say hello"),
                    Scenario.write_file(notes, "first line\n"),
                    Scenario.read(notes),
                    Scenario.edit_file(notes, "first line", "second line"),
                    Scenario.read(f"{workspace}/missing.txt"),
                    Scenario.say("I wrote notes.txt and changed its line."),
                ]
            ),
            10,
        ),
        "max_turns": (
            Scenario([Scenario.run("echo one"), Scenario.run("echo two"), Scenario.say("no")]),
            2,
        ),
        "api_error": (
            Scenario([Failure(400, "invalid_request_error", BUDGET_SPENT, None)]),
            10,
        ),
    }


def record(name: str) -> str:
    """Run the real CLI against the fake model on a scratch workspace; return its stdout."""
    with tempfile.TemporaryDirectory() as scratch:
        workspace, home = Path(scratch, "workspace"), Path(scratch, "home")
        workspace.mkdir()
        home.mkdir()
        scenario, max_turns = scenarios(str(workspace))[name]
        api = FakeModelAPI(fake_api_key(), scenario)
        with serve_in_thread(api.app) as url:
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(home),
                "ANTHROPIC_BASE_URL": url,
                "ANTHROPIC_API_KEY": api.api_key,
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            }
            command = ["claude", "-p", "Keep notes.", "--output-format", "stream-json"]
            command += ["--verbose", "--max-turns", str(max_turns)]
            command += ["--allowedTools", "Bash,Read,Write,Edit"]
            result = subprocess.run(
                command, cwd=workspace, env=env, capture_output=True, text=True, timeout=120
            )
        text = result.stdout.replace(str(workspace), WORKSPACE).replace(str(home), HOME)
        # The CLI also names its per-project state after the path, every other character a "-".
        return text.replace(_mangled(str(workspace)), _mangled(WORKSPACE))


def _mangled(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


def main() -> None:
    TRANSCRIPTS.mkdir(exist_ok=True)
    for name in scenarios(WORKSPACE):
        text = record(name)
        (TRANSCRIPTS / f"{name}.jsonl").write_text(text, encoding="utf-8")
        print(f"{name}: {len(text.splitlines())} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
