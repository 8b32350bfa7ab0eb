"""Repository schedules: `schedules:` in `.github/fixwright.yml`, kept in the store when a push
to the default branch changes the file (no sandbox, no model: unmetered)."""

from __future__ import annotations

from app.kinds import HelpLine, JobKind, Trigger, Words
from handlers.schedule_sync.handler import CHECK_NAME, sync_schedules
from handlers.schedule_sync.triggers import NAME, plan_schedule_sync

KIND = JobKind(
    name=NAME,
    handler=sync_schedules,
    triggers=(Trigger("push", None, plan_schedule_sync),),
    # It reads one file and writes one check run; the store holds the rest.
    permissions={"metadata": "read", "contents": "read", "checks": "write"},
    least_role=None,  # the push landed on the default branch: its author could write there
    refusal="",
    metered=False,
    help=(
        HelpLine(
            "changing `schedules:` in `.github/fixwright.yml`",
            "the default branch",
            "kept as the repository's schedules (problems: a failed check run on the commit)",
        ),
    ),
    words=Words(
        noun="schedule sync", retry_command="", subject="", narrow="", check_name=CHECK_NAME
    ),
    # It reads the file itself: a file that is not valid is what it reports, not a reason to stop.
    honours_repo_config=False,
)
