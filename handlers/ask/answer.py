"""The answer as posted: Claude's text made inert (no mention, no closing keyword; secrets were
taken out before), capped, with the commit it was read at, the run's cost and that nothing changed.

Pure text; the failure of a question in a review thread is said in the thread with the same words
as any failed job's comment (app/failure.py).
"""

from __future__ import annotations

from handlers.ask.question import Place, Question
from handlers.common.run_stats import RunStats, render_run_stats
from handlers.common.untrusted_text import defang

ANSWER_MARKER = "<!-- fixwright:answer job={job_id} -->"
# GitHub refuses comment bodies over 65,536 characters; the rest of the comment fits in the gap.
ANSWER_LIMIT = 60_000
QUOTE_LIMIT = 200
NO_ANSWER = "_Claude gave no answer._"
NO_CHANGE_NOTE = "No change was made: fixwright only read the code to answer."


def quoted_question(question: Question) -> str:
    """One line of the question, quoted and inert, so several answers in one thread are told apart."""
    line = " ".join(question.text.split())
    if len(line) > QUOTE_LIMIT:
        line = line[: QUOTE_LIMIT - 1] + "…"
    return defang(f"> @{question.asker} asked: {line}")


def capped(text: str, limit: int = ANSWER_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + "\n\n… (cut short)"


def render_answer(
    question: Question, answer: str, *, read_at: str, stats: RunStats | None, job_id: str
) -> str:
    """The comment (or thread reply) that answers `question` with Claude's `answer`."""
    text = capped(defang(answer.strip())) or NO_ANSWER
    parts = [ANSWER_MARKER.format(job_id=job_id)]
    if question.place is not Place.REVIEW_THREAD:
        parts.append(quoted_question(question))
    parts += [text, f"<sub>Read at {read_at}. {NO_CHANGE_NOTE}</sub>"]
    if stats is not None:
        parts.append(f"<sub>{render_run_stats(stats)}</sub>")
    parts.append(f"<sub>job `{job_id}`</sub>")
    return "\n\n".join(parts) + "\n"
