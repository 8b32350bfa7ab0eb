"""Every transform fixwright runs over text someone else wrote, with input built to make it slow.

Issue and pull request text, comments, Claude's answers, diffs and git's output reach these
functions; a pattern that backtracks turns a long enough text into minutes of CPU on the event
loop. Each case pairs one transform with an adversarial text and an ordinary one of the same
size (the test runs the first, the benchmark both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.common.commands import parse_command
from handlers.common.untrusted_text import defang
from handlers.fix.prompt import sanitize
from handlers.review.diff import commentable_lines
from handlers.review.findings import FindingsError, parse_findings
from handlers.review.fingerprints import fingerprints_in, normalise_title
from handlers.review.render import fenced
from sandbox.git_errors import explain_failure, explain_push_failure
from sandbox.git_secrets import find_secrets
from sandbox.redaction import redact_text

MEGABYTE = 1_000_000

ISSUE_TEXT = (
    "`greet()` forgets the comma, see #12 and @octocat's note in org/repo#3.\n"
    '![screenshot](https://example.com/shot.png) <img src="a.png" alt="the output">\n'
    "<!-- template: describe the bug --> Steps: run `hello`, read the output. Fixes nothing.\n"
)
ANSWER_TEXT = (
    "I read `hello/greet.py`; `farewell` uses an undefined name, cc @someone, fixes #4.\n\n"
    '```json\n[{"path": "hello/greet.py", "line": 10, "severity": "major", "title": "t", '
    '"body": "b"}]\n```\n'
)
PATCH_TEXT = "@@ -1,3 +1,4 @@\n context line\n-removed line\n+added line\n+another one\n"
GIT_OUTPUT = (
    "remote: Enumerating objects: 5, done.\n"
    "fatal: remote error: upload-pack: not our ref 0123456789abcdef\n"
)
LOG_TEXT = "clone of https://github.com/o/r.git took 0.4 s; token ghs_" + "A" * 36 + " used\n"


def repeated(unit: str, size: int, prefix: str = "") -> str:
    """`prefix` and then `unit` over and over, about `size` characters in all."""
    return prefix + unit * max(1, (size - len(prefix)) // len(unit))


def _parse_findings(text: str) -> object:
    try:
        return parse_findings(text)
    except FindingsError as error:
        return error


@dataclass(frozen=True)
class TextCase:
    """One transform, an input of `size` characters built to be slow, and an ordinary one."""

    name: str
    transform: Callable[[str], object]
    adversarial: Callable[[int], str]
    ordinary: Callable[[int], str]


CASES = (
    TextCase(
        "prompt: <img then spaces",
        sanitize,
        lambda n: repeated(" ", n, "<img"),
        lambda n: repeated(ISSUE_TEXT, n),
    ),
    TextCase(
        "prompt: ![ without ](",
        sanitize,
        lambda n: repeated("![", n),
        lambda n: repeated(ISSUE_TEXT, n),
    ),
    TextCase(
        "prompt: <img tags without >",
        sanitize,
        lambda n: repeated("<img alt=x ", n),
        lambda n: repeated(ISSUE_TEXT, n),
    ),
    TextCase(
        "prompt: <!-- without -->",
        sanitize,
        lambda n: repeated("<!--", n),
        lambda n: repeated(ISSUE_TEXT, n),
    ),
    TextCase(
        "defang: keyword then spaces",
        defang,
        lambda n: repeated(" ", n, "fix"),
        lambda n: repeated(ANSWER_TEXT, n),
    ),
    TextCase(
        "defang: fix-fix-fix",
        defang,
        lambda n: repeated("fix-", n),
        lambda n: repeated(ANSWER_TEXT, n),
    ),
    TextCase(
        "defang: closes: org/repo without #",
        defang,
        lambda n: repeated("closes: a/", n),
        lambda n: repeated(ANSWER_TEXT, n),
    ),
    TextCase(
        "review findings: fences never closed",
        _parse_findings,
        lambda n: repeated("x```\n", n),
        lambda n: repeated(ANSWER_TEXT, n),
    ),
    TextCase(
        "review findings: backtick runs",
        _parse_findings,
        lambda n: repeated("`", n),
        lambda n: repeated(ANSWER_TEXT, n),
    ),
    TextCase(
        "review diff: hunk headers",
        commentable_lines,
        lambda n: repeated("@@ -1,1 +1,", n),
        lambda n: repeated(PATCH_TEXT, n),
    ),
    TextCase(
        "review render: backtick runs",
        fenced,
        lambda n: repeated("`", n),
        lambda n: repeated(PATCH_TEXT, n),
    ),
    TextCase(
        "review fingerprints: markers",
        lambda text: (fingerprints_in([text]), normalise_title(text)),
        lambda n: repeated("<!-- fixwright:finding 0123", n),
        lambda n: repeated(ANSWER_TEXT, n),
    ),
    TextCase(
        "log redaction: BEGIN lines without END",
        redact_text,
        lambda n: repeated("-----BEGIN PRIVATE KEY-----\n", n),
        lambda n: repeated(LOG_TEXT, n),
    ),
    TextCase(
        "log redaction: token prefixes",
        redact_text,
        lambda n: repeated("github_pat_-sk-ant-fwcap-", n),
        lambda n: repeated(LOG_TEXT, n),
    ),
    TextCase(
        "secret check: BEGIN lines without END",
        find_secrets,
        lambda n: repeated("-----BEGIN RSA PRIVATE KEY-----", n),
        lambda n: repeated(PATCH_TEXT, n),
    ),
    TextCase(
        "commands: one long line",
        parse_command,
        lambda n: repeated("-", n, "/fix") + "!",
        lambda n: "/fix " + repeated("make it faster ", n),
    ),
    TextCase(
        "git errors: a phrase repeated",
        lambda text: explain_failure("fetch", text),
        lambda n: repeated("remote branch ", n),
        lambda n: repeated(GIT_OUTPUT, n),
    ),
    TextCase(
        "git errors: push refusal repeated",
        lambda text: explain_push_failure(text, "fixwright/issue-1"),
        lambda n: repeated("permission to ", n),
        lambda n: repeated(GIT_OUTPUT, n),
    ),
)
BY_NAME = {case.name: case for case in CASES}
