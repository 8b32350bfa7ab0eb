"""A work branch's conversation: the Claude Code session each round resumes, and the rounds the
pull request lists. Kept in the store by branch, so a follow-up on the PR finds what the fix left."""

from __future__ import annotations

from app.context import Context
from app.store import Conversation, Round
from sandbox.runner import RunResult
from sandbox.session import Transcript


async def conversation_of(context: Context, branch: str) -> Conversation | None:
    """The branch's conversation so far, if a round ran on it (and retention has not removed it)."""
    return await context.store.conversation(context.job.repository, branch)


def transcript_of(conversation: Conversation | None) -> Transcript | None:
    """The session a round resumes: None when there is none, or none was taken out."""
    if conversation is None or not conversation.session_id or not conversation.transcript:
        return None
    return Transcript(conversation.session_id, conversation.transcript)


async def remember(
    context: Context,
    branch: str,
    earlier: Conversation | None,
    result: RunResult,
    new_round: Round | None = None,
) -> None:
    """Keep the session the run left (or the earlier one, when the run gave none) and the
    rounds with `new_round` added, for the next round on the branch."""
    transcript = result.transcript or transcript_of(earlier)
    rounds = earlier.rounds if earlier is not None else ()
    if transcript is None and new_round is None:
        return
    await context.store.save_conversation(
        Conversation(
            repository=context.job.repository,
            branch=branch,
            session_id=transcript.session_id if transcript else "",
            transcript=transcript.data if transcript else b"",
            rounds=(*rounds, new_round) if new_round is not None else rounds,
        )
    )
