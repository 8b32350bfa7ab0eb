"""The job event log's typed events: what each holds, how it is made safe, and a fix job's log."""

from __future__ import annotations

import json

from app import job_events
from app.job_events import CUT, LIMITS, NewEvent, stored
from app.store import JobState
from sandbox.redaction import REDACTED
from sandbox.runner import Outcome
from sandbox.stream import AssistantText, FinalResult, SystemInit, ToolResult, ToolUse
from tests.fakes.github.fixtures import WEBHOOK_SECRET
from tests.fakes.sandbox import tool
from tests.fixtures.inprocess import Engine, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import label_delivery

GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2


def test_claudes_output_becomes_text_tool_calls_and_results() -> None:
    """Each line of Claude Code's output that says something is one typed event; the start and
    the closing result say nothing a reader follows (the cost comes as `usage`)."""
    bash = ToolUse("t1", "Bash", {"command": "pytest -q\necho second line", "timeout": 5})
    events = [
        job_events.of_stream(event)
        for event in (
            SystemInit("s", "m", (), "/workspace"),
            AssistantText("Looking at greet()."),
            AssistantText("  "),
            bash,
            ToolResult("t1", "1 passed", False),
            FinalResult("success", False, 1, 10, 0.0, {}, "done"),
        )
    ]
    assert events == [
        None,
        NewEvent("text", {"text": "Looking at greet()."}),
        None,
        NewEvent("tool_call", {"tool": "Bash", "input": {"command": "pytest -q"}}),
        NewEvent("tool_result", {"content": "1 passed", "is_error": False}),
        None,
    ]


def test_a_tool_calls_input_is_summarised_by_what_it_is_about() -> None:
    """A path, a pattern (and where), a URL: never the content a Write or an Edit carries."""
    write = tool("Write", file_path="/workspace/a.py", content="x" * 10_000)
    grep = tool("Grep", pattern="def greet", path="hello/", output_mode="content")
    unknown = tool("mcp__thing", path="somewhere", payload={"deep": "value"})
    assert job_events.tool_call(write).data["input"] == {"path": "/workspace/a.py"}
    assert job_events.tool_call(grep).data["input"] == {"pattern": "def greet", "path": "hello/"}
    assert job_events.tool_call(unknown).data["input"] == {"path": "somewhere"}


def test_every_string_is_redacted_before_it_is_cut() -> None:
    """Token shapes and the service's secret values go, in keys and nested values too; a secret
    lying across the cut is replaced whole, never left half-shown."""
    limit = LIMITS["tool_result"]
    content = "a" * (limit - 10) + WEBHOOK_SECRET + " tail"
    event = NewEvent("tool_result", {"content": content, GITHUB_TOKEN: [{"x": GITHUB_TOKEN}]})
    safe = stored(event, (WEBHOOK_SECRET,))
    shown = json.dumps(safe.data)
    assert WEBHOOK_SECRET[:8] not in shown and GITHUB_TOKEN[:12] not in shown
    assert safe.data["content"].endswith(CUT)
    assert len(safe.data["content"]) == limit + len(CUT)
    assert safe.data[REDACTED] == [{"x": REDACTED}]


def test_sizes_are_bounded_whatever_the_agent_wrote() -> None:
    """Long text, long lists and deep nesting are cut to known bounds."""
    deep: dict[str, object] = {}
    node = deep
    for _ in range(50):
        node["next"] = node = {}
    event = NewEvent("text", {"text": "y" * 1_000_000, "list": list(range(10_000)), "deep": deep})
    safe = stored(event, ())
    assert len(safe.data["text"]) == LIMITS["text"] + len(CUT)
    assert len(safe.data["list"]) == job_events.MAX_ITEMS
    assert len(json.dumps(safe.data)) < 20_000


def test_files_count_lines_added_and_removed_from_the_diff() -> None:
    """Additions and deletions per file from git's patch; added, deleted and binary files too."""
    diff = "\n".join(
        [
            "diff --git a/hello/greet.py b/hello/greet.py",
            "index 1..2 100644",
            "--- a/hello/greet.py",
            "+++ b/hello/greet.py",
            "@@ -1,2 +1,2 @@",
            "-    return 'Hello ' + name",
            "+    return f'Hello, {name}!'",
            "--- not a header inside a hunk",
            "diff --git a/new.txt b/new.txt",
            "new file mode 100644",
            "--- /dev/null",
            "+++ b/new.txt",
            "@@ -0,0 +1,2 @@",
            "+one",
            "+two",
            "diff --git a/old.txt b/old.txt",
            "deleted file mode 100644",
            "--- a/old.txt",
            "+++ /dev/null",
            "@@ -1 +0,0 @@",
            "-gone",
        ]
    )
    changes = job_events.file_changes(diff, ["hello/greet.py", "logo.png"])
    assert [(c.path, c.additions, c.deletions) for c in changes] == [
        ("hello/greet.py", 1, 2),
        ("new.txt", 2, 0),
        ("old.txt", 0, 1),
        ("logo.png", 0, 0),
    ]


def test_a_jobs_end_is_one_terminal_event_with_its_words() -> None:
    assert job_events.ending("succeeded", "pull request #3") == NewEvent(
        "completed", {"summary": "pull request #3"}
    )
    assert job_events.ending("failed", "it broke", "Try again.") == NewEvent(
        "failed", {"reason": "it broke", "next_step": "Try again."}
    )
    assert job_events.ending("cancelled", "cancelled").kind in job_events.TERMINAL_KINDS


async def test_a_fix_jobs_log_is_typed_and_holds_no_secret(engine: Engine) -> None:
    """A secret planted in a tool's input and in Claude's words is nowhere in the store; the log
    tells the job from running to its terminal event, with the files and the cost on the way."""
    planted = f"export TOKEN={GITHUB_TOKEN} KEY={WEBHOOK_SECRET}\nsecond line"
    run = the_fix(engine, summary=f"Done; I saw {WEBHOOK_SECRET} and {GITHUB_TOKEN} in the env.")
    engine.script(
        the_fix(engine, tools=(*run.tools, tool("Bash", command=planted)), summary=run.summary)
    )
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED
    )

    events = await engine.store.events(job.id)
    everything = json.dumps([(event.kind, event.data) for event in events])
    assert WEBHOOK_SECRET not in everything and GITHUB_TOKEN[:12] not in everything
    kinds = [event.kind for event in events]
    assert kinds[0] == "status" and events[0].data == {"state": "running"}
    assert kinds[-2:] == ["status", "completed"]
    assert events[-2].data["state"] == "succeeded"
    [bash] = [e for e in events if e.kind == "tool_call" and e.data["tool"] == "Bash"]
    assert bash.data["input"] == {"command": f"export TOKEN={REDACTED} KEY={REDACTED}"}
    [said] = [e for e in events if e.kind == "text"]
    assert REDACTED in said.data["text"]
    [changed] = [e for e in events if e.kind == "files"]
    assert changed.data["files"] == [{"path": "hello/greet.py", "additions": 1, "deletions": 1}]
    usage = [e for e in events if e.kind == "usage"]
    assert usage and usage[-1].data["input_tokens"] == 1_200
    assert [event.seq for event in events] == list(range(1, len(events) + 1))


async def test_a_failed_jobs_log_ends_with_the_words_the_thread_was_told(engine: Engine) -> None:
    """The terminal event of a failure carries its reason and its next step, after the status."""
    engine.script(the_fix(engine, outcome=Outcome.MAX_TURNS))
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )
    *_, status, ending = await engine.store.events(job.id)
    assert (status.kind, status.data["state"]) == ("status", "failed")
    assert ending.kind == "failed" and ending.data["reason"] == job.summary
    assert "Split the issue into smaller steps" in ending.data["next_step"]
