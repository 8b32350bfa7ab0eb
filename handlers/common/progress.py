"""The sticky progress comment: one comment per job, found again by its hidden marker, edited in place.

Rendering is pure (`render_progress`); `ProgressComment` is the thin adapter that finds or posts
the comment and edits it, at most every few seconds while Claude works.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog
from githubkit import GitHub
from githubkit.exception import GitHubException
from structlog.typing import FilteringBoundLogger

from handlers.common.ci_files import CiTouch, render_ci_notice
from handlers.common.run_stats import RunStats, render_run_stats
from handlers.common.untrusted_text import defang
from handlers.common.verification import Verdict, Verification, verification_line

if TYPE_CHECKING:
    from githubkit.rest.paginator import Paginator
    from githubkit_schemas.latest.models import IssueComment

log: FilteringBoundLogger = structlog.get_logger(__name__)

MARKER = "<!-- fixwright:progress job={job_id} -->"
MARKER_PATTERN = re.compile(r"<!-- fixwright:progress job=(?P<job_id>[^\s>]+) -->")
UPDATE_INTERVAL_SECONDS = 3.0
LAST_ACTION_LIMIT = 120
MESSAGE_LIMIT = 60_000  # GitHub refuses comment bodies over 65,536 characters


class Step(StrEnum):
    """The checklist, in order."""

    QUEUED = "queued"
    PREPARING = "preparing"
    WORKING = "working"
    VERIFYING = "verifying"
    PUSHING = "pushing"
    DONE = "done"


class Ending(StrEnum):
    """How the job ended, once it has."""

    RUNNING = "running"
    PULL_REQUEST = "pull_request"  # files changed, a draft PR holds them
    PUSHED = "pushed"  # files changed, a new commit on the pull request's branch holds them
    NO_CHANGES = "no_changes"  # Claude answered without changing a file
    FAILED = "failed"


STEP_ORDER = tuple(Step)
STEP_LABELS = {
    Step.QUEUED: "Queued",
    Step.PREPARING: "Preparing the workspace",
    Step.WORKING: "Claude is working",
    Step.VERIFYING: "Running the tests",
    Step.PUSHING: "Pushing the changes",
    Step.DONE: "Done",
}
HEADINGS = {
    Ending.RUNNING: "🛠️ fixwright is working on this issue",
    Ending.PULL_REQUEST: "✅ fixwright opened a draft pull request",
    Ending.PUSHED: "✅ fixwright pushed a new commit to this pull request",
    Ending.NO_CHANGES: "💬 fixwright looked into this and changed nothing",
    Ending.FAILED: "❌ fixwright could not finish",
}
# A pull request whose tests the host saw fail is never announced with a tick.
FAILING_HEADING = "⚠️ fixwright opened a draft pull request, but its tests do not pass"
NO_CHANGES_NOTE = (
    "Claude did not change any file, so there is no pull request. Its answer is below: it may "
    "have found that this is not a bug, or it may need more information. Reply on the issue and "
    "comment `/fix` (optionally with instructions) to try again."
)


@dataclass(frozen=True)
class ProgressState:
    """What the progress comment shows; handlers build new states with the methods below."""

    job_id: str
    current: Step = Step.QUEUED
    ending: Ending = Ending.RUNNING
    turns: int = 0
    max_turns: int | None = None
    last_action: str = ""
    pull_request_url: str = ""
    pull_request_number: int | None = None
    message: str = ""  # Claude's summary or answer
    reason: str = ""  # why the job failed, in words
    next_step: str = ""  # what the maintainer can do about it
    stats: RunStats | None = None
    live_log_url: str = ""
    ci_touches: tuple[CiTouch, ...] = ()  # changed files CI executes, said beside the PR link
    testing: str = ""  # which test run is going on ("before the change")
    verification: Verification | None = None  # what the host's test runs said, once they have
    repair_round: int = 0  # Claude's round of repairs after failing tests (0: its first run)
    max_rounds: int = 0
    commit: str = ""  # the commit a follow-up pushed
    notes: tuple[str, ...] = ()  # what the job wants said before its ending (a moved branch)

    def at(self, step: Step) -> ProgressState:
        """The job has reached `step`."""
        return replace(self, current=step)

    def working(self, turns: int, last_action: str = "") -> ProgressState:
        """Claude is on turn `turns`; `last_action` says what it did last (kept when empty)."""
        return replace(
            self, current=Step.WORKING, turns=turns, last_action=last_action or self.last_action
        )

    def running_tests(self, which: str) -> ProgressState:
        """The host runs the tests (`which`: "before the change", "after repair round 1")."""
        return replace(self, current=Step.VERIFYING, testing=which)

    def repairing(self, round_number: int, rounds: int) -> ProgressState:
        """Claude is given the failing tests back: repair round `round_number` of `rounds`."""
        return replace(
            self, current=Step.WORKING, repair_round=round_number, max_rounds=rounds, turns=0
        )

    def verified(self, verification: Verification) -> ProgressState:
        """The tests ran (or could not), and this is what they said."""
        return replace(self, verification=verification, testing="")

    def opened(
        self,
        url: str,
        number: int,
        message: str,
        stats: RunStats | None = None,
        ci_touches: tuple[CiTouch, ...] = (),
    ) -> ProgressState:
        """The changes are in draft PR `number`; `ci_touches` are the changed files CI executes."""
        return replace(
            self,
            current=Step.DONE,
            ending=Ending.PULL_REQUEST,
            pull_request_url=url,
            pull_request_number=number,
            message=message,
            stats=stats or self.stats,
            ci_touches=ci_touches,
        )

    def pushed(
        self, url: str, number: int, commit: str, message: str, stats: RunStats | None = None
    ) -> ProgressState:
        """A follow-up's changes are in a new commit on pull request `number`'s branch."""
        return replace(
            self,
            current=Step.DONE,
            ending=Ending.PUSHED,
            pull_request_url=url,
            pull_request_number=number,
            commit=commit,
            message=message,
            stats=stats or self.stats,
        )

    def unchanged(self, message: str, stats: RunStats | None = None) -> ProgressState:
        """Claude answered without changing a file."""
        return replace(
            self, current=Step.DONE, ending=Ending.NO_CHANGES, message=message, stats=stats
        )

    def failed(
        self, reason: str, next_step: str = "", stats: RunStats | None = None
    ) -> ProgressState:
        """The job stopped at its current step, for `reason`."""
        return replace(
            self,
            ending=Ending.FAILED,
            reason=reason,
            next_step=next_step,
            stats=stats or self.stats,
        )

    @property
    def finished(self) -> bool:
        return self.ending != Ending.RUNNING


def marker(job_id: str) -> str:
    """The hidden line that lets fixwright find a job's progress comment again."""
    return MARKER.format(job_id=job_id)


def job_of_comment(body: str | None) -> str | None:
    """The job id of a progress comment (its body starts with the marker), or None for any other."""
    found = MARKER_PATTERN.match(body or "")
    return found.group("job_id") if found else None


def render_progress(state: ProgressState) -> str:
    """The whole comment body, in GitHub Markdown, starting with the job's marker."""
    parts = [marker(state.job_id), f"### {_heading(state)}", _checklist(state)]
    parts += [f"> [!NOTE]\n> {note}" for note in state.notes]
    parts += _ending(state)
    if state.stats is not None:
        parts.append(f"<sub>{render_run_stats(state.stats)}</sub>")
    footer = f"job `{state.job_id}`"
    if state.live_log_url:
        footer += f" · [live log]({state.live_log_url})"
    parts.append(f"<sub>{footer}</sub>")
    return "\n\n".join(parts) + "\n"


def _heading(state: ProgressState) -> str:
    verification = state.verification
    failing = verification is not None and verification.verdict not in (
        Verdict.PASSED,
        Verdict.NOT_VERIFIED,
    )
    if state.ending == Ending.PULL_REQUEST and failing:
        return FAILING_HEADING
    return HEADINGS[state.ending]


def _checklist(state: ProgressState) -> str:
    return "\n".join(_step_line(state, step) for step in STEP_ORDER)


def _step_line(state: ProgressState, step: Step) -> str:
    position, current = STEP_ORDER.index(step), STEP_ORDER.index(state.current)
    label = STEP_LABELS[step]
    if step == Step.WORKING:
        label += _working_detail(state)
    if step == Step.VERIFYING:
        label += _testing_detail(state)
    if step == Step.PUSHING and state.ending == Ending.NO_CHANGES:
        return f"- [x] ~~{label}~~ (nothing to push)"
    if step == Step.VERIFYING and state.ending == Ending.NO_CHANGES:
        return f"- [x] ~~{label}~~ (nothing to test)"
    verification = state.verification
    if step == Step.VERIFYING and verification and verification.verdict is Verdict.NOT_VERIFIED:
        return f"- [x] ~~{label}~~ (not verified)"
    if position < current or (state.ending != Ending.FAILED and state.current == Step.DONE):
        return f"- [x] {label}"
    if position == current and state.ending == Ending.FAILED:
        return f"- [ ] ❌ **{label}** (stopped here)"
    if position == current:
        return f"- [ ] ⏳ **{label}**"
    if state.ending == Ending.FAILED:
        return f"- [ ] ~~{label}~~"
    return f"- [ ] {label}"


def _working_detail(state: ProgressState) -> str:
    details = []
    if state.repair_round:
        details.append(f"repair round {state.repair_round} of {state.max_rounds}")
    if state.turns:
        limit = f" of {state.max_turns}" if state.max_turns else ""
        details.append(f"turn {state.turns}{limit}")
    if state.last_action and not state.finished and state.current == Step.WORKING:
        details.append(f"last: {_inline_code(state.last_action)}")
    return f" ({'; '.join(details)})" if details else ""


def _testing_detail(state: ProgressState) -> str:
    if state.testing and state.current == Step.VERIFYING and not state.finished:
        return f" ({state.testing})"
    verification = state.verification
    if verification is not None and verification.verdict is not Verdict.NOT_VERIFIED:
        return f" ({verification_line(verification)})"
    return ""


def _ending(state: ProgressState) -> list[str]:
    if state.ending == Ending.PULL_REQUEST:
        link = f"[#{state.pull_request_number}]({state.pull_request_url})"
        notice = [render_ci_notice(state.ci_touches)] if state.ci_touches else []
        tests = (
            [f"**Tests:** {verification_line(state.verification)}"] if state.verification else []
        )
        return [
            f"**Draft pull request:** {link}",
            *tests,
            *notice,
            *_quoted_message("Claude's summary", state),
        ]
    if state.ending == Ending.PUSHED:
        link = f"[#{state.pull_request_number}]({state.pull_request_url})"
        tests = (
            [f"**Tests:** {verification_line(state.verification)}"] if state.verification else []
        )
        return [
            f"**Commit:** `{state.commit[:12]}` on {link}",
            *tests,
            *_quoted_message("Claude's summary", state),
        ]
    if state.ending == Ending.NO_CHANGES:
        return [NO_CHANGES_NOTE, *_quoted_message("Claude's answer", state)]
    if state.ending == Ending.FAILED:
        lines = [f"**Why:** {state.reason or 'the job stopped unexpectedly.'}"]
        if state.next_step:
            lines.append(f"**What to do next:** {state.next_step}")
        return lines
    return []


def _quoted_message(title: str, state: ProgressState) -> list[str]:
    if not state.message.strip():
        return []
    text = defang(state.message.strip())
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "\n\n… (cut short)"
    return [f"<details open><summary>{title}</summary>\n\n{text}\n\n</details>"]


def _inline_code(text: str) -> str:
    """One line of text as inline code that no backtick inside can break out of."""
    line = " ".join(text.split())
    if len(line) > LAST_ACTION_LIMIT:
        line = line[: LAST_ACTION_LIMIT - 1] + "…"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


class ProgressComment:
    """A job's one progress comment on an issue: found or posted once, then edited in place.

    Failures to post or edit are logged and swallowed: the comment reports on the job, and a
    GitHub hiccup while reporting must not fail the fix itself. When the comment could not be
    found or posted, the next update tries again (looking for the marker first, so a comment
    whose creation GitHub did record is not posted twice).
    """

    def __init__(
        self,
        github: GitHub[Any],
        repository: str,
        issue_number: int,
        state: ProgressState,
        *,
        interval: float = UPDATE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._github = github
        self._owner, _, self._name = repository.partition("/")
        self._issue_number = issue_number
        self.comment_id: int | None = None
        self.state = state
        self._interval = interval
        self._clock = clock
        self._shown = ""
        self._last_sent = float("-inf")
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        github: GitHub[Any],
        repository: str,
        issue_number: int,
        job_id: str,
        initial_state: ProgressState | None = None,
        *,
        interval: float = UPDATE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> ProgressComment:
        """The job's progress comment, showing `initial_state`: the existing one edited, or a new one."""
        state = initial_state or ProgressState(job_id=job_id)
        progress = cls(github, repository, issue_number, state, interval=interval, clock=clock)
        await progress.update(state, force=True)
        return progress

    async def update(self, state: ProgressState, force: bool = False) -> bool:
        """Show `state`; edits at most once per interval unless forced (a finished state always is).

        An update held back by the interval is not lost: the latest state goes out once the
        interval has passed, even if no further update comes. Returns whether the comment now
        shows `state`.
        """
        self.state = state
        if render_progress(state) == self._shown:
            return True
        wait = self._interval - (self._clock() - self._last_sent)
        if wait > 0 and not (force or state.finished):
            self._show_later(wait)
            return False
        self._cancel_pending()
        return await self._show_latest()

    async def flush(self) -> bool:
        """Show the latest state now, even inside the throttle interval."""
        return await self.update(self.state, force=True)

    async def close(self) -> None:
        """Drop a held-back update (the job is over and has said so)."""
        self._cancel_pending()

    async def _show_latest(self) -> bool:
        # One edit at a time, each with the newest state, so edits never land out of order.
        async with self._lock:
            state = self.state
            body = render_progress(state)
            if body == self._shown:
                return True
            try:
                await self._send(body)
            except GitHubException as error:
                log.warning("progress_comment_failed", job_id=state.job_id, error=_describe(error))
                return False
            self._shown, self._last_sent = body, self._clock()
            return body == render_progress(self.state)

    def _show_later(self, wait: float) -> None:
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._show_after(wait))

    async def _show_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._pending = None
        await self._show_latest()

    def _cancel_pending(self) -> None:
        if self._pending is not None and self._pending is not asyncio.current_task():
            self._pending.cancel()
        self._pending = None

    async def _send(self, body: str) -> None:
        issues = self._github.rest.issues
        if self.comment_id is None:
            self.comment_id = await self._find(self.state.job_id)
        if self.comment_id is None:
            response = await issues.async_create_comment(
                self._owner, self._name, self._issue_number, body=body
            )
            self.comment_id = response.parsed_data.id
        else:
            await issues.async_update_comment(self._owner, self._name, self.comment_id, body=body)

    async def _find(self, job_id: str) -> int | None:
        """The id of the comment carrying the job's marker, looking through every page."""
        # githubkit's IssuesClient has a method named `list`, which hides the builtin in its
        # annotations (yanyongyu/githubkit#184): mypy cannot infer the pages' type.
        pages: Paginator[IssueComment] = self._github.rest.paginate(
            self._github.rest.issues.async_list_comments,
            owner=self._owner,
            repo=self._name,
            issue_number=self._issue_number,
            per_page=100,
        )
        async for comment in pages:
            # Only a bot's comment counts: anyone can paste the marker into a comment of their own.
            by_bot = comment.user is not None and comment.user.type == "Bot"
            # `body` is UNSET when GitHub leaves it out (a text or HTML media type only).
            if by_bot and job_of_comment(comment.body or None) == job_id:
                return comment.id
        return None


def _describe(error: GitHubException) -> str:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return f"{type(error).__name__} {status}" if status else type(error).__name__
