"""Claude's review findings: the JSON block its answer ends with, parsed and checked (pure code)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("critical", "major", "minor", "nit")
SIDES = ("RIGHT", "LEFT")
MAX_FINDINGS = 50
TITLE_LIMIT = 200
BODY_LIMIT = 4_000
SUGGESTION_LIMIT = 8_000
PROBLEMS_SHOWN = 5
# A run of backticks: only its last three can open a block (the others are followed by a `).
FENCE = re.compile(r"```+")
# What may follow an opening fence on its line: an optional `json` and blanks.
OPENING_REST = re.compile(r"(?:json)?[ \t]*+\n")
# A closing fence: at the start of a line, after optional blanks.
CLOSING = re.compile(r"\n[ \t]*+```")


class FindingsError(ValueError):
    """Claude's answer holds no usable findings; the message says what is wrong, for a retry."""


@dataclass(frozen=True)
class Finding:
    """One thing Claude wants to say about a line (or a range of lines) of the pull request."""

    path: str
    line: int
    side: str
    severity: str
    title: str
    body: str
    start_line: int | None = None
    suggestion: str | None = None

    @property
    def first_line(self) -> int:
        return self.start_line if self.start_line is not None else self.line


def fenced_blocks(text: str) -> list[str]:
    """The bodies of the text's fenced blocks (```json or ```), in order, in one pass.

    A block opens at a fence followed by an optional `json` and the end of its line, and closes
    at the first fence that starts a line. When no fence closes a block, none can close a later
    one either, so the search stops there: a regular expression tried every later opening again
    (quadratic in the answer's length).
    """
    blocks: list[str] = []
    position = 0
    while (fence := FENCE.search(text, position)) is not None:
        opening = OPENING_REST.match(text, fence.end())
        if opening is None:
            position = fence.end()
            continue
        closing = CLOSING.search(text, opening.end())
        if closing is None:
            break
        blocks.append(text[opening.end() : closing.start()])
        position = closing.end()
    return blocks


def last_json_block(text: str) -> str:
    """The last fenced JSON block of `text`: the findings come at the end of the answer."""
    blocks = fenced_blocks(text)
    if not blocks:
        raise FindingsError("the answer does not end with a ```json block holding the findings")
    return blocks[-1]


def parse_findings(text: str) -> list[Finding]:
    """The findings of Claude's answer; `FindingsError` lists what is malformed."""
    try:
        data = json.loads(last_json_block(text))
    except json.JSONDecodeError as error:
        raise FindingsError(f"the ```json block is not valid JSON ({error})") from None
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        data = data["findings"]
    if not isinstance(data, list):
        raise FindingsError("the ```json block must hold a JSON array of findings")
    if len(data) > MAX_FINDINGS:
        raise FindingsError(f"there are {len(data)} findings; keep the {MAX_FINDINGS} that matter")
    findings: list[Finding] = []
    problems: list[str] = []
    for index, item in enumerate(data, start=1):
        found = finding_problems(item)
        if found:
            problems += [f"finding {index}: {problem}" for problem in found]
        else:
            findings.append(to_finding(item))
    if problems:
        shown = problems[:PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        raise FindingsError("; ".join(shown) + (f"; and {more} more problems" if more else ""))
    return findings


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= limit


def finding_problems(item: Any) -> list[str]:
    """What is wrong with one finding (empty when it is well formed)."""
    if not isinstance(item, dict):
        return ["must be a JSON object"]
    problems = []
    if not _text(item.get("path"), 1_000) or item["path"].startswith("/"):
        problems.append("`path` must be the file's path relative to the repository root")
    if not _positive(item.get("line")):
        problems.append("`line` must be a positive integer")
    start = item.get("start_line")
    if start is not None and (
        not _positive(start) or (_positive(item.get("line")) and start > item["line"])
    ):
        problems.append("`start_line` must be a positive integer no greater than `line`")
    if item.get("side", "RIGHT") not in SIDES:
        problems.append('`side` must be "RIGHT" (the new code) or "LEFT" (the old code)')
    if item.get("severity") not in SEVERITIES:
        problems.append("`severity` must be one of " + ", ".join(f'"{s}"' for s in SEVERITIES))
    if not _text(item.get("title"), TITLE_LIMIT):
        problems.append(f"`title` must be a non-empty string of at most {TITLE_LIMIT} characters")
    if not _text(item.get("body"), BODY_LIMIT):
        problems.append(f"`body` must be a non-empty string of at most {BODY_LIMIT} characters")
    suggestion = item.get("suggestion")
    if suggestion is not None and (
        not isinstance(suggestion, str) or len(suggestion) > SUGGESTION_LIMIT
    ):
        problems.append("`suggestion`, when given, must be the replacement code as a string")
    return problems


def to_finding(item: dict[str, Any]) -> Finding:
    """A checked finding object as a `Finding` (a one-line range is a single line)."""
    start = item.get("start_line")
    return Finding(
        path=item["path"].strip(),
        line=item["line"],
        side=item.get("side", "RIGHT"),
        severity=item["severity"],
        title=" ".join(item["title"].split()),
        body=item["body"].strip(),
        start_line=start if start is not None and start < item["line"] else None,
        suggestion=item.get("suggestion"),
    )
