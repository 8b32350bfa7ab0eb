"""What became of each pull request fixwright opened: a row written when its fix job opens it
(so only fixwright's own pull requests are ever counted), moved on by GitHub's `pull_request`
and `pull_request_review` deliveries, with the follow-up rounds and the cost of the jobs
spent on it.

Deliveries may arrive, or their jobs run, out of order (GitHub promises no order, and a worker
may run a newer job first): each change carries GitHub's own time for it, and a change older
than the one the row holds moves nothing. A merge is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from app.store.conversations import select_conversation
from app.store.dialect import Db
from app.store.model import loads

OUTCOMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS pull_requests (
    repository TEXT NOT NULL,
    number INTEGER NOT NULL,
    branch TEXT NOT NULL,
    job_id TEXT NOT NULL,
    installation_id INTEGER,
    opened_at REAL NOT NULL,
    state TEXT NOT NULL,
    state_at REAL NOT NULL,
    merged_at REAL,
    closed_at REAL,
    reopened INTEGER NOT NULL DEFAULT 0,
    followup_rounds INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (repository, number)
);
CREATE INDEX IF NOT EXISTS pull_requests_by_opened ON pull_requests (opened_at);
CREATE TABLE IF NOT EXISTS pull_request_reviews (
    repository TEXT NOT NULL,
    number INTEGER NOT NULL,
    review_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    PRIMARY KEY (repository, number, review_id)
);
CREATE TABLE IF NOT EXISTS review_findings (
    job_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    repository TEXT NOT NULL,
    number INTEGER NOT NULL,
    commit_sha TEXT NOT NULL,
    path TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    line INTEGER NOT NULL,
    side TEXT NOT NULL,
    severity TEXT NOT NULL,
    posted_at REAL NOT NULL,
    addressed_at REAL,
    addressed_commit TEXT,
    PRIMARY KEY (job_id, position)
);
CREATE INDEX IF NOT EXISTS review_findings_by_pull ON review_findings (repository, number);
"""

OPEN, MERGED, CLOSED = "open", "merged", "closed"
STATES = (OPEN, MERGED, CLOSED)
# The review states kept: the two that say what a reviewer decided.
REVIEW_STATES = ("approved", "changes_requested")


@dataclass(frozen=True)
class PullRequestChange:
    """One thing GitHub said of a pull request: closed (merged or not) or reopened, at `at`
    (GitHub's time of the change, seconds since the epoch)."""

    repository: str
    number: int
    action: str  # "closed" or "reopened"
    at: float
    merged: bool = False
    merged_at: float | None = None


@dataclass(frozen=True)
class PullRequestOutcome:
    """A pull request fixwright opened, as it stands."""

    repository: str
    number: int
    branch: str
    job_id: str
    installation_id: int | None
    opened_at: float
    state: str  # open, merged or closed
    merged_at: float | None
    closed_at: float | None
    reopened: int
    followup_rounds: int
    cost_usd: float
    approvals: int = 0
    changes_requested: int = 0

    @property
    def seconds_to_merge(self) -> float | None:
        if self.state != MERGED or self.merged_at is None:
            return None
        return max(0.0, self.merged_at - self.opened_at)


@dataclass(frozen=True)
class Recorded:
    """What recording a change did: the pull request afterwards (None: not fixwright's), and
    whether this change is the one that merged it (counted once, whatever is retried)."""

    outcome: PullRequestOutcome | None
    merged_now: bool = False


COLUMNS = (
    "repository, number, branch, job_id, installation_id, opened_at, state, merged_at,"
    " closed_at, reopened, followup_rounds, cost_usd"
)


def insert_opened(
    db: Db,
    repository: str,
    number: int,
    branch: str,
    job_id: str,
    installation_id: int | None,
    now: float,
) -> bool:
    """Keep a pull request fixwright opened (or found open on its own branch); the first
    record stands. False when it was already kept."""
    cursor = db.execute(
        "INSERT INTO pull_requests (repository, number, branch, job_id, installation_id,"
        " opened_at, state, state_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (repository, number) DO NOTHING",
        # No change of GitHub's is held yet (state_at 0): GitHub's clock orders the changes,
        # never this one's.
        (repository, number, branch, job_id, installation_id, now, OPEN, 0.0, now),
    )
    return bool(cursor.rowcount)


def _row(db: Db, repository: str, number: int) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = db.execute(
        f"SELECT {COLUMNS}, state_at FROM pull_requests"  # noqa: S608 (constant columns)
        " WHERE repository = ? AND number = ?",
        (repository, number),
    ).fetchone()
    return row


def apply_change(db: Db, change: PullRequestChange, now: float) -> Recorded:
    """Move a pull request fixwright opened by one change, unless a newer one already did;
    its rounds and cost are brought up to date either way. Other pull requests: nothing."""
    row = _row(db, change.repository, change.number)
    if row is None:
        return Recorded(None)
    state, state_at = row[6], row[-1]
    merged_now = False
    if state != MERGED and change.at >= state_at:
        if change.action == "closed":
            new_state = MERGED if change.merged else CLOSED
            merged_at = (change.merged_at or change.at) if change.merged else None
            db.execute(
                "UPDATE pull_requests SET state = ?, state_at = ?, closed_at = ?, merged_at = ?"
                " WHERE repository = ? AND number = ?",
                (new_state, change.at, change.at, merged_at, change.repository, change.number),
            )
            merged_now = change.merged
        elif change.action == "reopened" and state == CLOSED:
            db.execute(
                "UPDATE pull_requests SET state = ?, state_at = ?, closed_at = NULL,"
                " reopened = reopened + 1 WHERE repository = ? AND number = ?",
                (OPEN, change.at, change.repository, change.number),
            )
    refresh_effort(db, change.repository, change.number, row[2], row[3], now)
    return Recorded(select_outcome(db, change.repository, change.number), merged_now)


def refresh_effort(
    db: Db, repository: str, number: int, branch: str, job_id: str, now: float
) -> None:
    """The follow-up rounds (rounds of the branch's conversation whose job was asked on the
    pull request) and the cost (every job on the pull request, and the one that opened it)."""
    target = f"{repository}#{number}"
    rows = db.execute(
        "SELECT id, usage FROM jobs WHERE id = ? OR (repository = ? AND target = ?)",
        (job_id, repository, target),
    ).fetchall()
    cost = sum(_cost(loads(usage)) for _, usage in rows)
    on_pull = {job for job, _ in rows if job != job_id}
    conversation = select_conversation(cast(Any, db), repository, branch)
    rounds = sum(1 for item in conversation.rounds if item.job_id in on_pull) if conversation else 0
    db.execute(
        # The rounds only grow: the conversation may since have been pruned.
        "UPDATE pull_requests SET followup_rounds = CASE WHEN followup_rounds > ?"
        " THEN followup_rounds ELSE ? END, cost_usd = ?, updated_at = ?"
        " WHERE repository = ? AND number = ?",
        (rounds, rounds, round(cost, 6), now, repository, number),
    )


def _cost(usage: Mapping[str, Any]) -> float:
    value = usage.get("cost_usd", 0)
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def insert_review(
    db: Db, repository: str, number: int, review_id: int, state: str, reviewer: str, at: float
) -> bool:
    """Keep a review's decision on a pull request fixwright opened; False for other pull
    requests, other states, or a review already kept."""
    if state not in REVIEW_STATES or _row(db, repository, number) is None:
        return False
    cursor = db.execute(
        "INSERT INTO pull_request_reviews (repository, number, review_id, state, reviewer,"
        " submitted_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (repository, number, review_id) DO NOTHING",
        (repository, number, review_id, state, reviewer, at),
    )
    return bool(cursor.rowcount)


def _outcome(row: tuple[Any, ...], reviews: Mapping[str, int]) -> PullRequestOutcome:
    return PullRequestOutcome(
        repository=row[0],
        number=int(row[1]),
        branch=row[2],
        job_id=row[3],
        installation_id=row[4],
        opened_at=float(row[5]),
        state=row[6],
        merged_at=row[7],
        closed_at=row[8],
        reopened=int(row[9]),
        followup_rounds=int(row[10]),
        cost_usd=float(row[11]),
        approvals=reviews.get("approved", 0),
        changes_requested=reviews.get("changes_requested", 0),
    )


def select_outcome(db: Db, repository: str, number: int) -> PullRequestOutcome | None:
    row = _row(db, repository, number)
    if row is None:
        return None
    counts = db.execute(
        "SELECT state, COUNT(*) FROM pull_request_reviews WHERE repository = ? AND number = ?"
        " GROUP BY state",
        (repository, number),
    ).fetchall()
    return _outcome(row, {state: int(count) for state, count in counts})


def select_outcomes(db: Db, since: float, repository: str = "") -> list[PullRequestOutcome]:
    """The pull requests opened since `since` (of one repository, when given), oldest first."""
    where = "p.opened_at >= ?"
    parameters: tuple[float | str, ...] = (since,)
    if repository:
        where, parameters = f"{where} AND p.repository = ?", (since, repository)
    rows = db.execute(
        f"SELECT {COLUMNS} FROM pull_requests AS p WHERE {where}"  # noqa: S608 (constants)
        " ORDER BY p.opened_at, p.repository, p.number",
        parameters,
    ).fetchall()
    counts: dict[tuple[str, int], dict[str, int]] = {}
    review_rows = db.execute(
        "SELECT r.repository, r.number, r.state, COUNT(*) FROM pull_request_reviews AS r"  # noqa: S608
        " JOIN pull_requests AS p ON p.repository = r.repository AND p.number = r.number"
        f" WHERE {where} GROUP BY r.repository, r.number, r.state",
        parameters,
    ).fetchall()
    for repo, number, state, count in review_rows:
        counts.setdefault((repo, int(number)), {})[state] = int(count)
    return [_outcome(row, counts.get((row[0], int(row[1])), {})) for row in rows]


def count_states(db: Db) -> dict[str, int]:
    """How many of fixwright's pull requests are open, merged and closed now."""
    rows = db.execute("SELECT state, COUNT(*) FROM pull_requests GROUP BY state").fetchall()
    found = {state: int(count) for state, count in rows}
    return {state: found.get(state, 0) for state in STATES}


@dataclass(frozen=True)
class PostedFinding:
    """A finding fixwright's review posted on a pull request: the lines it is about, at the
    commit reviewed, and whether a later commit changed them (`addressed_commit`)."""

    job_id: str
    position: int  # its place among the review's findings
    repository: str
    number: int
    commit_sha: str
    path: str
    start_line: int
    line: int
    side: str  # RIGHT: lines of the reviewed commit; LEFT: lines it removed
    severity: str
    addressed_commit: str = ""


FINDING_COLUMNS = (
    "job_id, position, repository, number, commit_sha, path, start_line, line, side, severity"
)


def insert_findings(db: Db, findings: list[PostedFinding], now: float) -> int:
    """Keep the findings a review posted (once each: a retried job adds nothing); how many
    were new."""
    added = 0
    for item in findings:
        cursor = db.execute(
            f"INSERT INTO review_findings ({FINDING_COLUMNS}, posted_at)"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, position) DO NOTHING",
            (
                item.job_id,
                item.position,
                item.repository,
                item.number,
                item.commit_sha,
                item.path,
                item.start_line,
                item.line,
                item.side,
                item.severity,
                now,
            ),
        )
        added += max(cursor.rowcount, 0)
    return added


def select_open_findings(db: Db, repository: str, number: int) -> list[PostedFinding]:
    """The pull request's findings no later commit has addressed yet, oldest first."""
    rows = db.execute(
        f"SELECT {FINDING_COLUMNS} FROM review_findings"  # noqa: S608 (constant columns)
        " WHERE repository = ? AND number = ? AND addressed_at IS NULL"
        " ORDER BY posted_at, job_id, position",
        (repository, number),
    ).fetchall()
    return [PostedFinding(*row) for row in rows]


def mark_addressed(db: Db, keys: list[tuple[str, int]], commit_sha: str, now: float) -> int:
    """Mark findings addressed by `commit_sha`; how many were not already."""
    marked = 0
    for job_id, position in keys:
        cursor = db.execute(
            "UPDATE review_findings SET addressed_at = ?, addressed_commit = ?"
            " WHERE job_id = ? AND position = ? AND addressed_at IS NULL",
            (now, commit_sha, job_id, position),
        )
        marked += max(cursor.rowcount, 0)
    return marked


def count_findings(db: Db, since: float, repository: str = "") -> dict[str, tuple[int, int]]:
    """Per repository, the findings posted since `since` and how many of them were addressed."""
    where = "posted_at >= ?"
    parameters: tuple[float | str, ...] = (since,)
    if repository:
        where, parameters = f"{where} AND repository = ?", (since, repository)
    rows = db.execute(
        "SELECT repository, COUNT(*), COUNT(addressed_at) FROM review_findings"  # noqa: S608
        f" WHERE {where} GROUP BY repository",
        parameters,
    ).fetchall()
    return {repo: (int(posted), int(addressed)) for repo, posted, addressed in rows}
