"""Claude Code's session between runs: the transcript the CLI writes, taken out after a run and
put back before the next, so a follow-up continues the same conversation (`--resume`).

Measured on the pinned CLI (tests/test_sandbox_session.py): with persistence on, the CLI writes
the session to `$CLAUDE_CONFIG_DIR/projects/<cwd, each character but a letter or digit
replaced by '-'>/<session id>.jsonl` (mode 0600), one JSON object a line; `--session-id <uuid>`
names a new session, and `--resume <id>` in `-p` mode appends to the same file under the same id.
So the host chooses every session id itself and never takes one from the container's output.

The CLI's state directory is a host directory bind-mounted for the one run: every name, link and
byte in it is the agent's choice. The host reads only the one expected file, opened relative to
its parent with `O_NOFOLLOW` at each step, a regular file with one link, with a bounded read; it
drops a transcript over the cap whole (a cut one would be a different conversation: without its
start the task is gone, without its end the latest work is, and the CLI resumes from the last
line's chain of parents), and redacts every string in it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.redaction import redact_text

MIB = 1024 * 1024
# A session id as the CLI writes it: a UUID in canonical (lower-case, hyphenated) form, and
# nothing else, since it becomes a file name and a command-line argument.
_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PROJECTS = "projects"
TRANSCRIPT_SUFFIX = ".jsonl"
STATE_DIRECTORY_PREFIX = "session-"
# While the run goes on, the CLI's whole state directory (its configuration, backups, the
# transcript and what it keeps beside it) may hold this many times the transcript's cap, and at
# least this much; past it the run is stopped, as for the workspace.
STATE_BYTES_PER_TRANSCRIPT_BYTE = 8
STATE_MIN_BYTES = 64 * MIB
STATE_MAX_ENTRIES = 10_000
READ_CHUNK = MIB
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def is_session_id(text: object) -> bool:
    """True for a UUID in canonical form, and for nothing else."""
    return isinstance(text, str) and _SESSION_ID.fullmatch(text) is not None


def new_session_id() -> str:
    """A fresh session id, chosen by the host."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Transcript:
    """A session as the CLI wrote it, capped and redacted: what a follow-up resumes."""

    session_id: str  # checked: a UUID in canonical form, nothing else
    data: bytes  # the session's JSONL transcript

    def __post_init__(self) -> None:
        if not is_session_id(self.session_id):
            raise ValueError("a session id must be a UUID in canonical form")


@dataclass(frozen=True)
class SessionState:
    """The host directory that is the CLI's state directory for one run, and its session."""

    directory: Path
    session_id: str

    def __post_init__(self) -> None:
        if not is_session_id(self.session_id):
            raise ValueError("a session id must be a UUID in canonical form")


class TranscriptRefused(Exception):
    """The transcript the run left is not taken out; the message says why."""


def project_directory(cwd: str) -> str:
    """The CLI's directory name for a working directory: each character but an ASCII letter or
    digit becomes '-' ("/workspace" is "-workspace")."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


def transcript_parts(session_id: str, cwd: str) -> tuple[str, str, str]:
    """The transcript's path below the state directory, one name a level."""
    if not is_session_id(session_id):
        raise ValueError("a session id must be a UUID in canonical form")
    return PROJECTS, project_directory(cwd), session_id + TRANSCRIPT_SUFFIX


def state_disk_limit(transcript_max_bytes: int) -> int:
    """The most the CLI's state directory may hold on disk while a run goes on."""
    return max(STATE_MIN_BYTES, STATE_BYTES_PER_TRANSCRIPT_BYTE * transcript_max_bytes)


def megabytes(count: int) -> str:
    return f"{count / MIB:,.1f} MB"


# Redaction: every string of every line, keys included, matched after JSON decoding (so a
# secret that JSON escapes is found too) and never across two strings.


def redact_transcript(data: bytes, secrets: Iterable[str] = ()) -> tuple[bytes, int]:
    """The transcript with secret values and token shapes redacted from each line, and how many
    lines were left out because they were not a JSON value the CLI could read back."""
    values = tuple(s for s in secrets if s)
    kept: list[bytes] = []
    left_out = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        redacted = _redact_line(line, values)
        if redacted is None:
            left_out += 1
        else:
            kept.append(redacted)
    return b"".join(line + b"\n" for line in kept), left_out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _redact_line(line: bytes, secrets: tuple[str, ...]) -> bytes | None:
    try:
        value = json.loads(line, parse_constant=_no_constant)
        redacted, changed = _redact_value(value, secrets)
    except (ValueError, RecursionError):
        return None  # not UTF-8, not JSON, NaN, nested too deep, a number too long
    if not changed:
        return line  # the CLI's own bytes
    try:
        return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate (`\ud800`) only has an escaped form
        return json.dumps(redacted, separators=(",", ":")).encode()


def _redact_value(value: Any, secrets: tuple[str, ...]) -> tuple[Any, bool]:
    if isinstance(value, str):
        text = redact_text(value, secrets)
        return text, text != value
    if isinstance(value, list):
        items = [_redact_value(item, secrets) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            new_key = redact_text(key, secrets)
            new_item, item_changed = _redact_value(item, secrets)
            result[new_key] = new_item
            changed = changed or item_changed or new_key != key
        return result, changed
    return value, False


def clean_transcript(
    session_id: str, data: bytes, *, max_bytes: int, secrets: Iterable[str] = ()
) -> tuple[Transcript | None, int]:
    """The transcript to keep (None when nothing readable is left), and the lines left out;
    `TranscriptRefused` when it is over the cap, before or after redaction."""
    if len(data) > max_bytes:
        raise TranscriptRefused(f"the session transcript is over {megabytes(max_bytes)}")
    redacted, left_out = redact_transcript(data, secrets)
    if len(redacted) > max_bytes:
        raise TranscriptRefused(f"the session transcript is over {megabytes(max_bytes)}")
    return (Transcript(session_id, redacted) if redacted else None), left_out


# The host's side: the directory made for a run, the file put back, the file taken out.


def make_state_directory(parent: Path, owner: int) -> Path:
    """A fresh, empty directory under `parent` for the CLI's state, given to the agent's uid
    (when the host runs as root; otherwise the host's uid must be the agent's)."""
    directory = Path(tempfile.mkdtemp(prefix=STATE_DIRECTORY_PREFIX, dir=parent))
    _give(directory, owner)
    return directory


def _give(path: Path | str, owner: int, dir_fd: int | None = None) -> None:
    if os.geteuid() == 0 and owner != 0:
        os.chown(path, owner, owner, dir_fd=dir_fd, follow_symlinks=False)


def put_back(directory: Path, transcript: Transcript, *, cwd: str, owner: int) -> None:
    """Write the transcript where the CLI looks for it, before the container starts (the
    directory is the host's own until then): mode 0600, owned by the agent's uid."""
    *folders, name = transcript_parts(transcript.session_id, cwd)
    fd = os.open(directory, _DIRECTORY_FLAGS)
    try:
        for folder in folders:
            os.mkdir(folder, 0o700, dir_fd=fd)
            _give(folder, owner, fd)
            child = os.open(folder, _DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        file = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=fd)
        try:
            view = memoryview(transcript.data)
            while view:
                view = view[os.write(file, view) :]
        finally:
            os.close(file)
        _give(name, owner, fd)
    finally:
        os.close(fd)


def read_transcript(directory: Path, session_id: str, *, cwd: str, max_bytes: int) -> bytes | None:
    """The bytes of the run's transcript (None when the CLI wrote none), read without following
    a link at any step; `TranscriptRefused` for anything but a regular file with one link within
    the cap."""
    *folders, name = transcript_parts(session_id, cwd)
    too_large = TranscriptRefused(f"the session transcript is over {megabytes(max_bytes)}")
    try:
        fd = os.open(directory, _DIRECTORY_FLAGS)
    except FileNotFoundError:
        return None
    try:
        for folder in folders:
            try:
                child = os.open(folder, _DIRECTORY_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError:
                raise TranscriptRefused(
                    f"the session's {folder!r} is not a directory (a link, or a file)"
                ) from None
            os.close(fd)
            fd = child
        try:
            file = os.open(name, _FILE_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError:
            raise TranscriptRefused(
                "the session transcript is not a regular file (a link)"
            ) from None
        try:
            opened = os.fstat(file)
            if not stat.S_ISREG(opened.st_mode):
                raise TranscriptRefused("the session transcript is not a regular file")
            if opened.st_nlink != 1:
                raise TranscriptRefused("the session transcript has more than one link")
            if opened.st_size > max_bytes:
                raise too_large
            data = bytearray()
            while chunk := os.read(file, min(READ_CHUNK, max_bytes + 1 - len(data))):
                data += chunk
                if len(data) > max_bytes:
                    raise too_large
            return bytes(data)
        finally:
            os.close(file)
    finally:
        os.close(fd)


def take_out(
    state: SessionState, *, cwd: str, max_bytes: int, secrets: Iterable[str] = ()
) -> tuple[Transcript | None, int]:
    """The run's session, read, capped and redacted, and the lines left out of it;
    `TranscriptRefused` says why none is kept."""
    data = read_transcript(state.directory, state.session_id, cwd=cwd, max_bytes=max_bytes)
    if data is None:
        return None, 0
    return clean_transcript(state.session_id, data, max_bytes=max_bytes, secrets=secrets)
