"""The conversations' table: for each work branch fixwright pushes, the Claude Code session to
resume (its transcript, already capped and redacted by the sandbox) and the rounds so far."""

from __future__ import annotations

import json

from app.store.dialect import Db
from app.store.model import Conversation, Round

CONVERSATIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    repository TEXT NOT NULL,
    branch TEXT NOT NULL,
    session_id TEXT NOT NULL,
    transcript BLOB NOT NULL,
    rounds TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (repository, branch)
);
"""


def select_conversation(db: Db, repository: str, branch: str) -> Conversation | None:
    row = db.execute(
        "SELECT session_id, transcript, rounds, updated_at FROM conversations"
        " WHERE repository = ? AND branch = ?",
        (repository, branch),
    ).fetchone()
    if row is None:
        return None
    session_id, transcript, rounds, updated_at = row
    return Conversation(
        repository=repository,
        branch=branch,
        session_id=session_id,
        transcript=bytes(transcript),
        rounds=tuple(
            Round(**{**item, "files": tuple(item.get("files", ()))}) for item in json.loads(rounds)
        ),
        updated_at=updated_at,
    )


def upsert_conversation(db: Db, conversation: Conversation, now: float) -> None:
    rounds = json.dumps([round_.as_dict() for round_ in conversation.rounds])
    db.execute(
        "INSERT INTO conversations (repository, branch, session_id, transcript, rounds, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repository, branch) DO UPDATE SET"
        " session_id = excluded.session_id, transcript = excluded.transcript,"
        " rounds = excluded.rounds, updated_at = excluded.updated_at",
        (
            conversation.repository,
            conversation.branch,
            conversation.session_id,
            conversation.transcript,
            rounds,
            now,
        ),
    )


def prune_conversations(db: Db, before: float) -> int:
    """Conversations nobody continued since `before`: their pull requests have gone quiet."""
    return db.execute("DELETE FROM conversations WHERE updated_at < ?", (before,)).rowcount
