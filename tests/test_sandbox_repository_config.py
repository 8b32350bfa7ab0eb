"""A repository's own agent configuration never loads: no hook, MCP server, agent, command or skill.

The real CLI runs in the sandbox on a repository holding every kind of agent configuration, each
carrying a marker; a run fails the test if a marker reaches the model (system prompt, tool list,
messages) or a hook leaves its trace in the workspace. CLAUDE.md is the one file that counts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.review.prompt import REVIEW_SYSTEM_APPEND
from handlers.review.run import REVIEW_DISALLOWED, REVIEW_TOOLS
from sandbox.container import EDIT_TOOLS
from sandbox.runner import Outcome
from tests.fakes.model.scenario import Scenario, ToolCall
from tests.fixtures.sandbox import SandboxRunner

pytestmark = pytest.mark.docker

HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop")


def hooks(source: str) -> dict[str, Any]:
    """A hook per event that writes into the workspace and prints a marker (which a hook's output
    would carry to the model)."""
    return {
        event: [
            {
                "matcher": "*",
                "hooks": [
                    {
                        "type": "command",
                        "command": f"echo {source}-{event} >> /workspace/hooks-ran.txt; "
                        f"echo HOOK_OUTPUT_{source}_{event}",
                    }
                ],
            }
        ]
        for event in HOOK_EVENTS
    }


# A stdio MCP server that notes its start in the workspace (when it may write there) and offers
# one tool, whose description would reach the model.
MCP_SERVER = """\
import json, sys
try:
    open("/workspace/mcp-started.txt", "w").write("started\\n")
except OSError:
    pass
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    method, result = message.get("method"), {}
    if method == "initialize":
        result = {"protocolVersion": message["params"]["protocolVersion"],
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "repo", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [{"name": "repo_tool", "description": "MARKER_MCP_TOOL",
                             "inputSchema": {"type": "object", "properties": {}}}]}
    print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), flush=True)
"""
REPOSITORY = {
    "README.md": "# widgets\n",
    "widgets.py": 'def greet(name):\n    return "Hello, " + nam\n',
    "CLAUDE.md": "MARKER_CLAUDE_MD: keep functions short.\n",
    ".claude/settings.json": json.dumps(
        {
            "hooks": hooks("project"),
            "env": {"MARKER_SETTINGS_ENV": "1"},
            "enableAllProjectMcpServers": True,
            "permissions": {"allow": ["Bash", "WebFetch", "mcp__repo__repo_tool"]},
        }
    ),
    ".claude/settings.local.json": json.dumps(
        {"hooks": hooks("local"), "enableAllProjectMcpServers": True}
    ),
    ".mcp.json": json.dumps(
        {"mcpServers": {"repo": {"command": "python3", "args": ["/workspace/mcp_server.py"]}}}
    ),
    "mcp_server.py": MCP_SERVER,
    ".claude/agents/repo-agent.md": (
        "---\nname: repo-agent\ndescription: MARKER_AGENT_DESCRIPTION\n---\nMARKER_AGENT_BODY\n"
    ),
    ".claude/commands/repo-command.md": (
        "---\ndescription: MARKER_COMMAND_DESCRIPTION\n---\nMARKER_COMMAND_BODY\n"
    ),
    ".claude/skills/repo-skill/SKILL.md": (
        "---\nname: repo-skill\ndescription: MARKER_SKILL_DESCRIPTION\n---\nMARKER_SKILL_BODY\n"
    ),
    ".claude/workflows/repo-workflow.js": (
        "export const meta = { name: 'repo-workflow', description: 'MARKER_WORKFLOW', "
        "phases: [] }\nawait agent('MARKER_WORKFLOW_AGENT')\n"
    ),
}
# Every way into that configuration the model has: each call must be refused.
REACH_FOR_IT = [
    ToolCall("Skill", {"skill": "repo-skill"}),
    ToolCall("Skill", {"skill": "repo-command"}),
    ToolCall(
        "Agent",
        {"description": "Use it", "prompt": "Go", "subagent_type": "repo-agent"},
    ),
    ToolCall("ToolSearch", {"query": "select:mcp__repo__repo_tool"}),
    ToolCall("mcp__repo__repo_tool", {}),
    ToolCall("Workflow", {"name": "repo-workflow"}),
]
ENVIRONMENT = Scenario.run("env; echo run > /workspace/tool-ran.txt", "Show the environment")


def model_visible_text(requests: list[Any]) -> str:
    """System prompts, tools and messages of every request the model received, as one text."""
    return json.dumps([request.body for request in requests])


def offered_tools(requests: list[Any]) -> set[str]:
    """The names of the tools the CLI offered the model, over all the run's agent turns."""
    return {tool["name"] for request in requests for tool in request.body.get("tools", [])}


def assert_nothing_of_the_repository_configuration_loaded(
    fake_model: Any, allowed: tuple[str, ...], diff: str
) -> None:
    text = model_visible_text(fake_model.requests)
    leaked = sorted(
        {word for word in text.replace('"', " ").replace("\\n", " ").split() if "MARKER_" in word}
        - {"MARKER_CLAUDE_MD:"}
    )
    assert leaked == [], f"the repository's configuration reached the model: {leaked}"
    assert "HOOK_OUTPUT" not in text and "hooks-ran.txt" not in diff
    assert "mcp-started.txt" not in diff, "the repository's MCP server was started"
    assert offered_tools(fake_model.requests) <= {tool.split("(")[0] for tool in allowed}
    refused = fake_model.tool_result_blocks[-len(REACH_FOR_IT) :]
    assert [block.is_error for block in refused] == [True] * len(REACH_FOR_IT)
    assert "MARKER_CLAUDE_MD: keep functions short." in text  # CLAUDE.md is honoured


async def test_a_fix_run_loads_none_of_the_repositorys_agent_configuration(
    run_sandbox: SandboxRunner, fake_model: Any
) -> None:
    """With every kind of agent configuration in the repository, a fix run runs no hook, starts no MCP server, and offers no agent, command or skill; CLAUDE.md still counts."""
    fake_model.set_scenario(Scenario([ENVIRONMENT, *REACH_FOR_IT, Scenario.say("Done.")]))
    run = await run_sandbox("Fix the bug.", files=REPOSITORY)
    assert run.result.outcome is Outcome.SUCCESS, run.result.stderr_tail
    assert "tool-ran.txt" in run.diff  # the run could write: a hook's file would show too
    assert "MARKER_SETTINGS_ENV" not in fake_model.tool_results[0]
    assert_nothing_of_the_repository_configuration_loaded(fake_model, EDIT_TOOLS, run.diff)


async def test_a_review_run_loads_none_of_the_repositorys_agent_configuration(
    run_sandbox: SandboxRunner, fake_model: Any
) -> None:
    """A review run (read-only, review tools) on the same repository loads none of it either; CLAUDE.md still counts."""
    fake_model.set_scenario(
        Scenario([Scenario.read("/workspace/widgets.py"), *REACH_FOR_IT, Scenario.say("[]")])
    )
    run = await run_sandbox(
        "Review the change.",
        files=REPOSITORY,
        allowed_tools=REVIEW_TOOLS,
        disallowed_tools=REVIEW_DISALLOWED,
        read_only=True,
        append_system_prompt=REVIEW_SYSTEM_APPEND,
    )
    assert run.result.outcome is Outcome.SUCCESS, run.result.stderr_tail
    assert "nam" in fake_model.tool_results[0]  # the checkout was readable
    assert_nothing_of_the_repository_configuration_loaded(fake_model, REVIEW_TOOLS, run.diff)
