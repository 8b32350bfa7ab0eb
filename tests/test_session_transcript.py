"""The session transcript on the host: its id, its path, its cap and redaction, and the read of a
directory the agent wrote, which follows no link and reads nothing but one regular file."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.container import CLAUDE_STATE, RunSpec, claude_command, container_kwargs
from sandbox.redaction import REDACTED
from sandbox.runner import open_session
from sandbox.session import (
    SessionState,
    Transcript,
    TranscriptRefused,
    clean_transcript,
    is_session_id,
    new_session_id,
    project_directory,
    put_back,
    read_transcript,
    redact_transcript,
    state_disk_limit,
    take_out,
    transcript_parts,
)
from tests.test_sandbox_container import LIMITS, SPEC

SESSION = "4dc40db9-349b-4ff6-aff1-3077d260c972"
CWD = "/workspace"
GITHUB_TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
SECRET = "model-key-canary-5f2a9c"
HOST_FILE_TEXT = "root:x:0:0:host file the agent must never get back\n"


def line(**fields: object) -> bytes:
    return json.dumps(fields).encode() + b"\n"


TURNS = line(type="user", message={"role": "user", "content": "Fix the bug"}) + line(
    type="assistant", message={"role": "assistant", "content": [{"type": "text", "text": "Done"}]}
)


def transcript_path(directory: Path, session_id: str = SESSION) -> Path:
    return directory.joinpath(*transcript_parts(session_id, CWD))


def plant(directory: Path, data: bytes = TURNS, session_id: str = SESSION) -> Path:
    """A transcript where the CLI writes it, as the container would leave it."""
    path = transcript_path(directory, session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    """A file of the host's, outside the session directory, that a link could point at."""
    path = tmp_path / "host-secret"
    path.write_text(HOST_FILE_TEXT)
    return path


@pytest.fixture
def state(tmp_path: Path) -> SessionState:
    directory = tmp_path / "state"
    directory.mkdir()
    return SessionState(directory, SESSION)


# The session id: a canonical UUID and nothing else, since it becomes a path and an argument.


@pytest.mark.parametrize(
    "text",
    [
        SESSION.upper(),
        "{" + SESSION + "}",
        "urn:uuid:" + SESSION,
        SESSION.replace("-", ""),
        SESSION + "\n",
        " " + SESSION,
        "../../etc/passwd",
        "--resume",
        SESSION[:-1] + "g",
        SESSION + "0",
        "",
    ],
)
def test_a_session_id_that_is_not_a_canonical_uuid_is_refused(text: str) -> None:
    assert not is_session_id(text)
    with pytest.raises(ValueError):
        Transcript(text, b"")
    with pytest.raises(ValueError):
        transcript_parts(text, CWD)


def test_a_canonical_uuid_is_a_session_id_and_new_ones_are() -> None:
    assert is_session_id(SESSION)
    assert is_session_id(new_session_id())
    assert not is_session_id(123)
    assert new_session_id() != new_session_id()


def test_the_transcript_lives_where_the_cli_writes_it() -> None:
    """`projects/<cwd with each character but letters and digits as '-'>/<id>.jsonl`."""
    assert project_directory("/workspace") == "-workspace"
    assert project_directory("/a/b.c_d") == "-a-b-c-d"
    assert transcript_parts(SESSION, "/workspace") == ("projects", "-workspace", SESSION + ".jsonl")


def test_the_state_directory_may_hold_a_multiple_of_the_cap_and_at_least_64_mib() -> None:
    assert state_disk_limit(64 * 1024) == 64 * 1024 * 1024
    assert state_disk_limit(16 * 1024 * 1024) == 128 * 1024 * 1024


# The command and the container.


def test_a_new_run_keeps_its_session_under_the_id_the_host_chose() -> None:
    command = claude_command(SPEC, LIMITS, session_id=SESSION)
    assert command[command.index("--session-id") + 1] == SESSION
    assert "--no-session-persistence" not in command
    assert "--resume" not in command


def test_a_resumed_run_resumes_the_transcript_it_was_given() -> None:
    spec = replace(SPEC, resume=Transcript(SESSION, TURNS))
    command = claude_command(spec, LIMITS, session_id=SESSION)
    assert command[command.index("--resume") + 1] == SESSION
    assert "--session-id" not in command
    assert "--no-session-persistence" not in command


def test_without_a_session_the_cli_keeps_none() -> None:
    assert "--no-session-persistence" in claude_command(SPEC, LIMITS)


def test_the_state_directory_is_mounted_in_place_of_the_clis_tmpfs(tmp_path: Path) -> None:
    """The plain image: the home stays a tmpfs, the CLI's state in it is the run's directory.
    A prepared image: the state's tmpfs gives way to the directory."""
    session = SessionState(tmp_path / "session-x", SESSION)
    plain = container_kwargs(
        SPEC, LIMITS, relay_socket=Path("/r.sock"), capability="cap", session=session
    )
    assert plain["volumes"][str(session.directory)] == {"bind": CLAUDE_STATE, "mode": "rw"}
    assert set(plain["tmpfs"]) == {"/tmp", "/home/agent"}
    assert plain["command"][plain["command"].index("--session-id") + 1] == SESSION
    prepared = container_kwargs(
        replace(SPEC, image="fixwright-env:x"),
        LIMITS,
        relay_socket=Path("/r.sock"),
        capability="cap",
        session=session,
    )
    assert set(prepared["tmpfs"]) == {"/tmp"}
    assert prepared["volumes"][str(session.directory)] == {"bind": CLAUDE_STATE, "mode": "rw"}


def test_a_run_state_directory_is_beside_the_workspace_with_the_session_put_back(
    tmp_path: Path,
) -> None:
    """Outside the workspace the agent sees as /workspace; the resumed transcript is where the
    CLI reads it, mode 0600, given to the agent's uid when the host is root."""
    workspace = tmp_path / "job" / "workspace"
    workspace.mkdir(parents=True)
    spec = RunSpec(job_id="j", workspace=workspace, prompt="p", resume=Transcript(SESSION, TURNS))
    state = open_session(spec)
    assert state.directory.parent == workspace.parent
    assert state.session_id == SESSION
    path = transcript_path(state.directory)
    assert path.read_bytes() == TURNS
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    if os.geteuid() == 0:
        assert {p.lstat().st_uid for p in (state.directory, path.parent, path)} == {1000}
    fresh = open_session(replace(spec, resume=None))
    assert is_session_id(fresh.session_id) and fresh.session_id != SESSION
    assert list(fresh.directory.iterdir()) == []


def test_put_back_then_taken_out_is_the_same_transcript(state: SessionState) -> None:
    put_back(state.directory, Transcript(SESSION, TURNS), cwd=CWD, owner=1000)
    transcript, left_out = take_out(state, cwd=CWD, max_bytes=1024 * 1024)
    assert transcript == Transcript(SESSION, TURNS)
    assert left_out == 0


def test_no_transcript_is_none(state: SessionState) -> None:
    assert take_out(state, cwd=CWD, max_bytes=1024) == (None, 0)
    (state.directory / "projects").mkdir()
    assert take_out(state, cwd=CWD, max_bytes=1024) == (None, 0)


# The cap: a transcript over it is dropped whole, never cut.


def test_a_transcript_over_the_cap_is_dropped_whole(state: SessionState) -> None:
    plant(state.directory, TURNS * 100)
    with pytest.raises(TranscriptRefused, match="over"):
        take_out(state, cwd=CWD, max_bytes=len(TURNS) * 100 - 1)
    transcript, _ = take_out(state, cwd=CWD, max_bytes=len(TURNS) * 100)
    assert transcript is not None and transcript.data == TURNS * 100


def test_a_huge_sparse_transcript_is_refused_without_reading_it(state: SessionState) -> None:
    path = plant(state.directory, b"")
    with path.open("r+b") as file:
        file.truncate(64 * 1024**3)  # 64 GiB of nothing: read whole, it would fill the memory
    with pytest.raises(TranscriptRefused, match="over"):
        read_transcript(state.directory, SESSION, cwd=CWD, max_bytes=8 * 1024 * 1024)


def test_redaction_that_would_grow_past_the_cap_drops_it() -> None:
    """A secret shorter than the mark: the redacted transcript is checked against the cap too."""
    data = line(text="ab " * 30)
    with pytest.raises(TranscriptRefused):
        clean_transcript(SESSION, data, max_bytes=len(data), secrets=("ab",))


# Redaction: every string, keys too, matched after JSON decoding.


def test_secret_values_and_token_shapes_are_redacted_from_every_string() -> None:
    data = line(
        type="user",
        message={"content": [{"type": "tool_result", "content": f"token={GITHUB_TOKEN}"}]},
    ) + line(**{SECRET: f"key {SECRET} in a key and a value", "n": 1})
    redacted, left_out = redact_transcript(data, (SECRET,))
    assert left_out == 0
    assert GITHUB_TOKEN.encode() not in redacted
    assert SECRET.encode() not in redacted
    first, second = (json.loads(part) for part in redacted.splitlines())
    assert first["message"]["content"][0]["content"] == f"token={REDACTED}"
    assert second == {REDACTED: f"key {REDACTED} in a key and a value", "n": 1}


def test_a_secret_json_escapes_is_redacted_too() -> None:
    """A value with a quote, a backslash or a non-ASCII letter is written escaped by the CLI."""
    secret = 'pa"ss\\wörd-\u2028-canary'
    data = json.dumps({"text": f"the key is {secret}."}, ensure_ascii=True).encode() + b"\n"
    assert secret.encode() not in data  # only its escaped form is there
    redacted, _ = redact_transcript(data, (secret,))
    assert json.loads(redacted) == {"text": f"the key is {REDACTED}."}


def test_lines_without_a_secret_keep_the_clis_bytes() -> None:
    data = b'{"a" : 1,   "b":"\\u00e9"}\n' + line(token=GITHUB_TOKEN)
    redacted, _ = redact_transcript(data)
    assert redacted.splitlines()[0] == b'{"a" : 1,   "b":"\\u00e9"}'


@pytest.mark.parametrize(
    "bad",
    [
        b"not json at all " + GITHUB_TOKEN.encode(),
        b'{"cut": "in the mid',
        b'{"x": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"n": ' + b"9" * 10_000 + b"}",
        b'{"bytes": "\xff\xfe ' + GITHUB_TOKEN.encode() + b'"}',
    ],
)
def test_a_line_the_cli_could_not_read_back_is_left_out(bad: bytes) -> None:
    """Nothing unparsed is kept, so nothing unredacted is."""
    redacted, left_out = redact_transcript(TURNS + bad + b"\n" + TURNS)
    assert left_out == 1
    assert redacted == TURNS + TURNS


def test_a_lone_surrogate_stays_valid_json() -> None:
    data = b'{"t": "\\ud800 ' + GITHUB_TOKEN.encode() + b'"}\n'
    redacted, left_out = redact_transcript(data)
    assert left_out == 0
    assert json.loads(redacted) == {"t": f"\ud800 {REDACTED}"}
    redacted.decode("utf-8")


def test_a_planted_transcript_with_a_secret_and_a_token_comes_out_redacted(
    state: SessionState,
) -> None:
    plant(state.directory, line(type="user", content=f"{SECRET} and {GITHUB_TOKEN}"))
    transcript, _ = take_out(state, cwd=CWD, max_bytes=1024 * 1024, secrets=(SECRET,))
    assert transcript is not None
    assert SECRET.encode() not in transcript.data
    assert GITHUB_TOKEN.encode() not in transcript.data
    assert json.loads(transcript.data)["content"] == f"{REDACTED} and {REDACTED}"


# What a hostile agent plants in the state directory: the host follows no link, reads nothing
# but a regular file with one link.


def test_a_link_in_place_of_the_transcript_is_not_followed(
    state: SessionState, host_file: Path
) -> None:
    path = transcript_path(state.directory)
    path.parent.mkdir(parents=True)
    path.symlink_to(host_file)
    with pytest.raises(TranscriptRefused, match="not a regular file"):
        take_out(state, cwd=CWD, max_bytes=1024 * 1024)


@pytest.mark.parametrize("level", ["projects", "-workspace"])
def test_a_link_in_place_of_a_directory_is_not_followed(
    state: SessionState, tmp_path: Path, level: str
) -> None:
    """The link points at a host directory holding a file under the expected name."""
    elsewhere = tmp_path / "host-directory"
    if level == "projects":
        plant(elsewhere)
        (state.directory / "projects").symlink_to(elsewhere / "projects")
    else:
        plant(elsewhere)
        (state.directory / "projects").mkdir()
        (state.directory / "projects" / "-workspace").symlink_to(
            elsewhere / "projects" / "-workspace"
        )
    with pytest.raises(TranscriptRefused, match="not a directory"):
        take_out(state, cwd=CWD, max_bytes=1024 * 1024)


def test_a_fifo_in_place_of_the_transcript_is_refused_without_waiting(
    state: SessionState,
) -> None:
    """Opened for reading, a FIFO with no writer would block the host forever."""
    path = transcript_path(state.directory)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(TranscriptRefused, match="not a regular file"):
        take_out(state, cwd=CWD, max_bytes=1024 * 1024)


def test_a_hard_link_to_another_file_is_refused(state: SessionState) -> None:
    """A file with a second name is one the agent may have tied to something else."""
    other = state.directory / "elsewhere.jsonl"
    other.write_bytes(TURNS)
    path = transcript_path(state.directory)
    path.parent.mkdir(parents=True)
    os.link(other, path)
    with pytest.raises(TranscriptRefused, match="more than one link"):
        take_out(state, cwd=CWD, max_bytes=1024 * 1024)


def test_a_directory_in_place_of_the_transcript_is_refused(state: SessionState) -> None:
    transcript_path(state.directory).mkdir(parents=True)
    with pytest.raises(TranscriptRefused, match="not a regular file"):
        take_out(state, cwd=CWD, max_bytes=1024 * 1024)


# The fake sandbox's sessions, which in-process tests of follow-ups rely on.


async def test_the_fake_sandbox_continues_the_session_it_is_given(tmp_path: Path) -> None:
    """Each scripted run leaves a well-formed transcript; a run that resumes one keeps its id
    and its lines, and the specs say what each run resumed."""
    from tests.fakes.sandbox import FAKE_SESSION_ID, FakeSandbox, ScriptedRun

    sandbox = FakeSandbox.playing(ScriptedRun(), ScriptedRun(), ScriptedRun(keeps_session=False))
    first = await sandbox.run(RunSpec(job_id="1", workspace=tmp_path, prompt="first prompt"))
    assert first.transcript is not None and first.transcript.session_id == FAKE_SESSION_ID
    spec = RunSpec(job_id="2", workspace=tmp_path, prompt="second prompt", resume=first.transcript)
    second = await sandbox.run(spec)
    assert second.transcript is not None
    assert second.transcript.session_id == FAKE_SESSION_ID
    assert second.transcript.data.startswith(first.transcript.data)
    assert [json.loads(x)["message"]["content"] for x in second.transcript.data.splitlines()] == [
        "first prompt",
        "second prompt",
    ]
    assert [s.resume for s in sandbox.specs] == [None, first.transcript]
    third = await sandbox.run(RunSpec(job_id="3", workspace=tmp_path, prompt="p"))
    assert third.transcript is None
