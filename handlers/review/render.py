"""Where each finding goes (inline, summary, or already posted) and the review's Markdown."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from handlers.common.run_stats import RunStats, render_run_stats
from handlers.common.untrusted_text import defang
from handlers.review.diff import FileLines, ReviewScope
from handlers.review.findings import SEVERITIES, Finding
from handlers.review.fingerprints import fingerprint, marker

if TYPE_CHECKING:
    from githubkit_schemas.latest.types import (
        ReposOwnerRepoPullsPullNumberReviewsPostBodyPropCommentsItemsType,
    )

    # One inline comment as GitHub's create-review endpoint takes it.
    ReviewComment: TypeAlias = ReposOwnerRepoPullsPullNumberReviewsPostBodyPropCommentsItemsType

REVIEW_MARKER = "<!-- fixwright:review -->"
BODY_LIMIT = 60_000  # GitHub refuses review bodies over 65,536 characters
SKIPPED_SHOWN = 50
ICONS = {"critical": "🔴", "major": "🟠", "minor": "🟡", "nit": "⚪"}
FOOTER = (
    "fixwright only comments: it never approves or requests changes. Comment `/review` again "
    "after new commits; findings already posted on unchanged lines are not repeated."
)
_BACKTICKS = re.compile(r"`+")


@dataclass(frozen=True)
class Placed:
    """A finding that goes inline, with its fingerprint."""

    finding: Finding
    fingerprint: str


@dataclass(frozen=True)
class ReviewPlan:
    """Every finding, in exactly one place."""

    inline: tuple[Placed, ...]
    outside: tuple[Finding, ...]  # not on a line of the diff: told in the summary
    repeated: tuple[Finding, ...]  # posted by an earlier review on a line still in the diff

    @property
    def findings(self) -> list[Finding]:
        return [p.finding for p in self.inline] + [*self.outside, *self.repeated]


def place_findings(
    findings: Sequence[Finding], lines: Mapping[str, FileLines], posted: set[str]
) -> ReviewPlan:
    """Inline when GitHub can anchor it and it is new; in the summary when it is off the diff."""
    inline: list[Placed] = []
    outside: list[Finding] = []
    repeated: list[Finding] = []
    this_run: set[str] = set()
    for finding in findings:
        file_lines = lines.get(finding.path)
        if file_lines is None or not file_lines.covers(
            finding.side, finding.line, finding.start_line
        ):
            outside.append(finding)
            continue
        key = fingerprint(finding.path, finding.title, file_lines.text(finding.side, finding.line))
        if key in this_run:
            continue  # Claude said the same thing twice: once is enough
        this_run.add(key)
        if key in posted:
            repeated.append(finding)
            continue
        inline.append(Placed(finding, key))
    return ReviewPlan(tuple(inline), tuple(outside), tuple(repeated))


def fenced(code: str, info: str = "") -> str:
    """`code` in a fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{code.rstrip(chr(10))}\n{fence}"


def heading(finding: Finding) -> str:
    title = defang(finding.title)
    return f"{ICONS[finding.severity]} **{finding.severity.capitalize()}: {title}**"


def inline_body(placed: Placed) -> str:
    """One inline comment: severity and title, the explanation, a suggestion, the fingerprint.

    Claude's prose is made inert (it read text anyone could write); its code is left as it is,
    since GitHub neither notifies nor closes anything from inside a code block.
    """
    finding = placed.finding
    parts = [heading(finding), defang(finding.body)]
    if finding.suggestion is not None:
        if finding.side == "RIGHT":
            parts.append(fenced(finding.suggestion, "suggestion"))
        else:
            parts.append("Proposed code:\n\n" + fenced(finding.suggestion))
    parts.append(marker(placed.fingerprint))
    return "\n\n".join(parts)


def review_comment(placed: Placed) -> ReviewComment:
    """The inline comment as GitHub's create-review endpoint takes it."""
    finding = placed.finding
    comment: ReviewComment = {
        "path": finding.path,
        "line": finding.line,
        "side": finding.side,
        "body": inline_body(placed),
    }
    if finding.start_line is not None:
        comment["start_line"] = finding.start_line
        comment["start_side"] = finding.side
    return comment


def location(finding: Finding) -> str:
    lines = (
        f"lines {finding.start_line} to {finding.line}"
        if finding.start_line is not None
        else f"line {finding.line}"
    )
    version = "new code" if finding.side == "RIGHT" else "old code"
    return f"`{code_safe(finding.path)}` {lines} ({version})"


def code_safe(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


def indented(text: str) -> str:
    return "\n".join(("  " + row) if row.strip() else "" for row in text.splitlines())


def outside_item(finding: Finding) -> str:
    item = f"- {heading(finding)} — {location(finding)}\n\n{indented(defang(finding.body))}"
    if finding.suggestion is not None:
        item += "\n\n" + indented("Proposed code:\n\n" + fenced(finding.suggestion))
    return item


def severity_counts(findings: Sequence[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    return " · ".join(f"{ICONS[s]} {counts[s]} {s}" for s in SEVERITIES)


@dataclass(frozen=True)
class SummaryFacts:
    """What the summary reports besides the findings."""

    head_sha: str
    focus: str
    stats: RunStats | None


def render_summary(plan: ReviewPlan, scope: ReviewScope, facts: SummaryFacts) -> str:
    """The review's body: what was reviewed, the counts, what is new, what is off the diff."""
    parts = [REVIEW_MARKER, "### 🔍 fixwright review", what_was_reviewed(scope, facts)]
    parts.append(findings_line(plan))
    if plan.outside:
        parts.append("#### Findings outside the diff")
        parts += [outside_item(f) for f in plan.outside]
    if scope.skipped:
        parts.append("#### Not reviewed")
        parts.append(skipped_list(scope))
    if facts.stats is not None:
        parts.append(f"<sub>{render_run_stats(facts.stats)}</sub>")
    parts.append(f"<sub>{FOOTER}</sub>")
    body = "\n\n".join(parts) + "\n"
    return body if len(body) <= BODY_LIMIT else body[:BODY_LIMIT] + "\n\n… (cut short)\n"


def what_was_reviewed(scope: ReviewScope, facts: SummaryFacts) -> str:
    count = len(scope.reviewed)
    files = f"{count} file" + ("" if count == 1 else "s")
    text = f"Reviewed **{files}** ({scope.changed_lines:,} changed lines) at `{facts.head_sha[:7]}`"
    if scope.skipped:
        text += f"; {len(scope.skipped)} not reviewed (listed below)"
    text += "."
    if facts.focus.strip():
        text += f"\n\nFocus asked for: _{defang(' '.join(facts.focus.split())[:300])}_"
    return text


def findings_line(plan: ReviewPlan) -> str:
    findings = plan.findings
    if not findings:
        return "Claude found nothing to flag in the reviewed files."
    parts = [f"**Findings:** {severity_counts(findings)}."]
    new = len(plan.inline)
    parts.append(f"**{new} new** inline comment{'' if new == 1 else 's'}")
    if plan.outside:
        parts.append(f"{len(plan.outside)} outside the diff (below)")
    if plan.repeated:
        parts.append(f"{len(plan.repeated)} already posted by an earlier review and not repeated")
    return parts[0] + " " + ", ".join(parts[1:]) + "."


def skipped_list(scope: ReviewScope) -> str:
    rows = [f"- `{code_safe(f.path)}`: {reason}" for f, reason in scope.skipped[:SKIPPED_SHOWN]]
    if len(scope.skipped) > SKIPPED_SHOWN:
        rows.append(f"- … and {len(scope.skipped) - SKIPPED_SHOWN} more")
    return "\n".join(rows)


def nothing_to_review(scope: ReviewScope, head_sha: str) -> str:
    """The review's body when every changed file was left out: never silence without a reason."""
    count = len(scope.skipped)
    return (
        f"{REVIEW_MARKER}\n\n### 🔍 fixwright review\n\n"
        f"Nothing was reviewed at `{head_sha[:7]}`: all {count} changed "
        f"file{'' if count == 1 else 's'} fall outside what fixwright reviews.\n\n"
        f"#### Not reviewed\n\n{skipped_list(scope)}\n\n<sub>{FOOTER}</sub>\n"
    )
