"""The real CLI in the real sandbox, driven by the scripted model through the relay."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from sandbox.runner import Outcome
from sandbox.stream import FinalResult, ToolResult, ToolUse
from tests.fakes.model.scenario import Scenario

pytestmark = pytest.mark.docker


async def test_a_one_edit_run_returns_the_diff_turns_tokens_and_cost(fake_model, run_sandbox):
    """A scripted fix edits the file; the diff comes back with turns, tokens and cost reported."""
    fake_model.set_scenario(
        Scenario.fix_file("/workspace/widgets.py", '"Hello, " + nam\n', '"Hello, " + name\n')
    )
    run = await run_sandbox("Fix the NameError in widgets.py")

    assert run.result.outcome is Outcome.SUCCESS
    assert '-    return "Hello, " + nam\n+    return "Hello, " + name\n' in run.diff
    assert run.result.num_turns == 3
    assert run.result.total_cost_usd > 0
    assert run.result.summary == "Fixed it."
    assert run.result.usage.requests == 3
    assert run.result.usage.input_tokens == 300
    assert run.result.usage.output_tokens > 0
    assert [e.name for e in run.events if isinstance(e, ToolUse)] == ["Read", "Edit"]
    assert isinstance(run.events[-1], FinalResult)


async def test_the_prompt_reaches_the_model_unchanged_through_stdin(fake_model, run_sandbox):
    """Shell syntax in the prompt arrives verbatim: no shell ever interprets it."""
    prompt = "Explain $(id) and `uname` and ${HOME}; 'quoted' \"double\""
    run = await run_sandbox(prompt)

    assert run.result.outcome is Outcome.SUCCESS
    first_turn = fake_model.api.scenario_requests[0].body["messages"][0]
    assert prompt in repr(first_turn["content"]).replace("\\'", "'").replace('\\"', '"')


async def test_no_secret_is_visible_inside_the_container(fake_model, run_sandbox, monkeypatch):
    """Environment, process environments, git config and /var/run show no key, token or socket."""
    github_token = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    monkeypatch.setenv("GITHUB_TOKEN", github_token)
    monkeypatch.setenv("FIXWRIGHT_ANTHROPIC_API_KEY", fake_model.api_key)
    commands = [
        "env",
        "cat /proc/self/environ | tr '\\0' '\\n'",
        "cat /proc/1/environ | tr '\\0' '\\n'; echo exit=$?",
        "git config --list --show-origin",
        "ls -la /var/run /run /run/fixwright",
        "find / -name '*.sock' -o -name 'docker*' 2>/dev/null | grep -v ^/proc",
    ]
    fake_model.set_scenario(Scenario([*(Scenario.run(c) for c in commands), Scenario.say("ok")]))
    run = await run_sandbox()

    assert run.result.outcome is Outcome.SUCCESS
    results = fake_model.tool_results
    assert len(results) == len(commands)
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:8377" in results[0]  # the commands did run
    everything = "\n".join(results)
    assert fake_model.api_key not in everything
    assert github_token not in everything
    assert not re.search(r"\b(ghs|ghp|gho|ghu|github_pat)_[A-Za-z0-9_]{20,}", everything)
    assert "docker.sock" not in everything
    assert "model.sock" in results[4]  # the relay socket is the one socket there


async def test_the_container_reaches_nothing_but_the_relay(fake_model, run_sandbox):
    """curl and git clone to the outside and to the host's ports all fail; the model is not hit."""
    port = fake_model.url.rsplit(":", 1)[1]
    probes = {
        "outside": "curl -sS -m 5 https://example.com/",
        "outside-ip": "curl -sS -m 5 http://1.1.1.1/",
        "clone": "git clone -q https://github.com/git/git.git /tmp/clone",
        "host-loopback": f"curl -sS -m 5 http://127.0.0.1:{port}/v1/messages",
        "docker-bridge": f"curl -sS -m 5 http://172.17.0.1:{port}/v1/messages",
        "tcp": f"bash -c 'echo > /dev/tcp/172.17.0.1/{port}'",
    }
    steps = [Scenario.run(f"{command}; echo {name}=$?") for name, command in probes.items()]
    fake_model.set_scenario(Scenario([*steps, Scenario.say("no way out")]))
    requests_before = len(fake_model.requests)
    run = await run_sandbox()

    assert run.result.outcome is Outcome.SUCCESS
    for name, result in zip(probes, fake_model.tool_results, strict=True):
        status = re.search(rf"^{name}=(\d+)$", result, re.MULTILINE)
        assert status is not None, result
        assert status.group(1) != "0", f"{name} got out: {result}"
    seen = fake_model.requests[requests_before:]
    assert all(r.method == "POST" and r.path == "/v1/messages" for r in seen)


async def test_the_process_is_unprivileged_and_the_root_filesystem_read_only(
    fake_model, run_sandbox
):
    """CapEff is 0, NoNewPrivs is 1, the uid is not 0, and / cannot be written."""
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.run("grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; id -u"),
                Scenario.run("touch /probe 2>&1; echo root=$?; touch /workspace/probe; echo ws=$?"),
                Scenario.say("checked"),
            ]
        )
    )
    run = await run_sandbox()

    status, writes = fake_model.tool_results
    assert re.search(r"^CapEff:\s+0000000000000000$", status, re.MULTILINE)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE)
    uid = int(re.search(r"^(\d+)$", status, re.MULTILINE).group(1))
    assert uid != 0
    assert "Read-only file system" in writes
    assert "root=1" in writes
    assert "ws=0" in writes
    assert run.result.outcome is Outcome.SUCCESS


async def test_a_review_job_cannot_write_the_workspace(fake_model, run_sandbox):
    """With a read-only workspace, a write attempt fails and the repository is unchanged."""
    fake_model.set_scenario(
        Scenario([Scenario.run("echo x > /workspace/widgets.py; echo w=$?"), Scenario.say("ok")])
    )
    run = await run_sandbox(read_only=True)

    assert "Read-only file system" in fake_model.tool_results[0]
    assert run.diff == ""
    assert run.result.outcome is Outcome.SUCCESS


def _tool_result_text(events, index: int = 0) -> str:
    return [e for e in events if isinstance(e, ToolResult)][index].content


async def test_max_turns_is_reported_as_such(fake_model, run_sandbox):
    """A model that keeps calling tools past the turn limit ends the run as max_turns."""
    fake_model.set_scenario(Scenario([Scenario.run("true")] * 5 + [Scenario.say("done")]))
    run = await run_sandbox(max_turns=2)

    assert run.result.outcome is Outcome.MAX_TURNS
    assert run.result.final is not None
    assert run.result.final.subtype == "error_max_turns"


async def test_a_rejected_model_key_is_reported_as_an_authentication_error(fake_model, run_sandbox):
    """When the upstream refuses the key, the run ends as model_authentication, not a crash."""
    fake_model.set_scenario(Scenario([Scenario.unauthorized()]))
    run = await run_sandbox()

    assert run.result.outcome is Outcome.MODEL_AUTHENTICATION


async def test_a_job_over_its_token_budget_ends_as_budget_spent(fake_model, run_sandbox):
    """The relay lets the first answer through, then refuses: the run ends as model_budget."""
    fake_model.set_scenario(
        Scenario([Scenario.run("true"), Scenario.run("true"), Scenario.say("x")])
    )
    # Each request reserves its max_tokens (32,000) first: room for one answer (155), not two.
    run = await run_sandbox(token_budget=32_100)

    assert run.result.outcome is Outcome.MODEL_BUDGET
    assert run.result.usage.requests == 1
    assert len(fake_model.api.scenario_requests) == 1


async def test_the_relay_refuses_bad_tokens_and_other_paths_from_inside(fake_model, run_sandbox):
    """From the container, a wrong capability and a non-model path are refused by the relay."""
    base = "$ANTHROPIC_BASE_URL"
    post = "-H 'anthropic-version: 2023-06-01' -H 'content-type: application/json'"
    body = '-d \'{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}\''
    commands = [
        f"curl -s -w ' status=%{{http_code}}' -H 'x-api-key: fwcap-forged' {post} {body} "
        f"{base}/v1/messages",
        f"curl -s -w ' status=%{{http_code}}' -H \"x-api-key: $ANTHROPIC_API_KEY\" {base}/v1/models",
        f"curl -s -w ' status=%{{http_code}}' -X POST -H \"x-api-key: $ANTHROPIC_API_KEY\" "
        f"{base}/v1/files",
    ]
    fake_model.set_scenario(Scenario([*(Scenario.run(c) for c in commands), Scenario.say("ok")]))
    requests_before = len(fake_model.requests)
    await run_sandbox()

    forged, models, files = fake_model.tool_results
    assert "status=401" in forged
    assert "authentication_error" in forged
    assert "status=404" in models
    assert "status=404" in files
    assert len(fake_model.requests) - requests_before == len(commands) + 1  # only the CLI's turns


async def test_settings_limits_reach_the_container(fake_model, run_sandbox, sandbox_settings):
    """The pids and memory limits in the settings are the ones the kernel enforces inside."""
    settings = replace(sandbox_settings, sandbox_pids=200, sandbox_memory="768m")
    fake_model.set_scenario(
        Scenario(
            [
                Scenario.run(
                    "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes"
                ),
                Scenario.say("ok"),
            ]
        )
    )
    await run_sandbox(settings=settings)

    assert fake_model.tool_results[0].split()[:2] == ["200", str(768 * 1024 * 1024)]
