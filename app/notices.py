"""Notices (refusals, `/help` answers) go to one person on one issue at most once an hour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from githubkit import GitHub
from structlog.typing import FilteringBoundLogger

from app.store.model import Store

# Anyone can comment `/fix` or `/help`: without a limit, a stranger's comments could make the App
# spend its content-creation limits on replies.
NOTICE_WINDOW_SECONDS = 3600.0


@dataclass(frozen=True)
class Notice:
    """A comment for one person on one issue or pull request; `kind` names what it says."""

    repository: str
    number: int
    person: str
    kind: str
    body: str


async def post_notice_once(
    store: Store, github: GitHub[Any], notice: Notice, log: FilteringBoundLogger
) -> bool:
    """Comment unless the person got a notice of this kind there within the hour; False (with a
    log line) when it was skipped. The record is taken before posting, so two workers never
    both post it."""
    claimed = await store.claim_notice(
        notice.repository, notice.number, notice.person, notice.kind, NOTICE_WINDOW_SECONDS
    )
    if not claimed:
        log.info(
            "notice.skipped", notice=notice.kind, to=notice.person, reason="sent within the hour"
        )
        return False
    owner, _, name = notice.repository.partition("/")
    await github.rest.issues.async_create_comment(owner, name, notice.number, body=notice.body)
    return True
