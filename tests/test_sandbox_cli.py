"""`fixwright run` and its settings, on a fixture repository with the scripted model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from app.config import ConfigError
from app.quota import cost_of_run
from app.quota_prices import DEFAULT_PRICES
from app.sandbox_cli import describe, main, run_settings
from sandbox.stream import FinalResult, ToolResult, ToolUse
from sandbox.usage import JobUsage
from tests.fakes.model.scenario import Scenario
from tests.fixtures.sandbox import make_repository


def test_run_settings_need_none_of_the_serve_only_variables() -> None:
    """`fixwright run` starts with just a model key: no webhook secret or App credentials."""
    settings = run_settings(
        {"FIXWRIGHT_ANTHROPIC_API_KEY": "sk-x", "FIXWRIGHT_MAX_TURNS": "7"}, None
    )
    assert settings.anthropic_api_key == "sk-x"
    assert settings.max_turns == 7
    assert settings.webhook_secrets == ()
    assert settings.private_key == ""


def test_run_settings_still_report_bad_sandbox_values() -> None:
    """A malformed sandbox variable is named, as it would be for the service."""
    with pytest.raises(ConfigError, match="FIXWRIGHT_SANDBOX_PIDS"):
        run_settings({"FIXWRIGHT_SANDBOX_PIDS": "lots"}, None)


def test_progress_lines_read_well() -> None:
    """Tool calls show their command or file, results their status, the end its turns."""
    assert describe(ToolUse("t1", "Bash", {"command": "pytest -q"})) == "-> Bash: pytest -q"
    assert (
        describe(ToolResult("t1", "1 failed\n  in 0.1s", True)) == "   <- error: 1 failed in 0.1s"
    )
    final = FinalResult("success", False, 3, 900, 0.01, {}, "Done.")
    assert describe(final) == "finished: success after 3 turns"


def test_run_without_a_model_key_says_which_variable_to_set(monkeypatch, tmp_path, capsys):
    """Without FIXWRIGHT_ANTHROPIC_API_KEY the command stops at once and names it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FIXWRIGHT_ANTHROPIC_API_KEY", raising=False)
    assert main(["run", "--repo", str(tmp_path), "--prompt", "x"]) == 2
    assert "FIXWRIGHT_ANTHROPIC_API_KEY" in capsys.readouterr().err


@pytest.mark.docker
def test_run_prints_the_diff_as_json_and_leaves_the_repository_alone(
    fake_model, sandbox_image, monkeypatch, tmp_path, capsys
):
    """The fix comes back as JSON with turns, tokens and cost; the original checkout is untouched."""
    repo = make_repository(tmp_path / "widgets")
    fake_model.set_scenario(
        Scenario.fix_file("/workspace/widgets.py", '"Hello, " + nam\n', '"Hello, " + name\n')
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FIXWRIGHT_ANTHROPIC_API_KEY", fake_model.api_key)
    monkeypatch.setenv("FIXWRIGHT_MODEL_UPSTREAM_URL", fake_model.url)
    monkeypatch.setenv("FIXWRIGHT_SANDBOX_IMAGE", sandbox_image)

    code = main(["run", "--repo", str(repo), "--prompt", "Fix widgets.py", "--json"])

    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 0
    assert result["outcome"] == "success"
    assert '+    return "Hello, " + name' in result["diff"]
    assert result["num_turns"] == 3
    assert result["usage"]["output_tokens"] > 0
    # Priced from the relay's counts, as the service does, not the CLI's own figure.
    priced = cost_of_run(JobUsage(**result["usage"]), "", DEFAULT_PRICES)
    assert result["total_cost_usd"] == pytest.approx(priced) and priced > 0
    assert "-> Edit: /workspace/widgets.py" in captured.err
    assert fake_model.api_key not in captured.out + captured.err
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout == ""
    assert "+ nam\n" in Path(repo, "widgets.py").read_text()


@pytest.mark.docker
def test_run_never_runs_what_the_agent_writes_into_the_copys_git_config(
    fake_model, sandbox_image, monkeypatch, tmp_path, capsys
):
    """An fsmonitor the agent sets in the copy's `.git/config` never runs when the host reads the copy."""
    repo = make_repository(tmp_path / "widgets")
    canary = tmp_path / "fsmonitor-ran-on-the-host"
    script = f"git config core.fsmonitor 'env > {canary}; echo'; echo changed >> README.md"
    fake_model.set_scenario(Scenario([Scenario.run(script, "Tune git"), Scenario.say("Done.")]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FIXWRIGHT_ANTHROPIC_API_KEY", fake_model.api_key)
    monkeypatch.setenv("FIXWRIGHT_MODEL_UPSTREAM_URL", fake_model.url)
    monkeypatch.setenv("FIXWRIGHT_SANDBOX_IMAGE", sandbox_image)

    code = main(["run", "--repo", str(repo), "--prompt", "Edit the README", "--json"])

    assert not canary.exists(), "the agent's fsmonitor ran on the host:\n" + canary.read_text()
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and "+changed" in result["diff"]
    assert ".git/config" not in result["diff"]
