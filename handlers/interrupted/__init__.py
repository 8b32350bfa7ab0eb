"""The notice on a thread whose job was interrupted too often to be retried."""

from __future__ import annotations

from app.kinds import JobKind, Words
from handlers.interrupted.notice import NAME, tell_thread_job_was_interrupted

KIND = JobKind(
    name=NAME,
    handler=tell_thread_job_was_interrupted,
    triggers=(),  # queued by the store's reaper, in the transaction that fails the job
    permissions={"issues": "write", "metadata": "read"},
    least_role=None,  # nobody asked: the service itself tells the thread
    refusal="",
    metered=False,
    help=(),
    words=Words(noun="notice", retry_command="", subject="", narrow="", check_name=""),
)
