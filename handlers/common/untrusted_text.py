"""Claude's words, shown on GitHub without side effects: no pings, no closing of other issues.

Claude read text anyone could write; its summary may repeat `@someone` (a notification to a
stranger) or `Fixes #12` (which would close issue 12 when the PR merges). A zero-width space
keeps the text readable and takes away GitHub's meaning.
"""

from __future__ import annotations

import re

ZERO_WIDTH_SPACE = "\u200b"
MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9])")
# `Fixes #12`, `closes: org/repo#3`, `resolved https://…/issues/4`. Linear whatever follows: the
# repetitions are possessive (a keyword and 8,000 spaces took 2 s with `\s*:?\s+`, which splits
# the spaces every possible way), and the separator is a colon or a space, so the reference the
# lookahead reads is the next word only, never a run of `fix-fix-fix…`.
CLOSING_KEYWORD = re.compile(
    r"\b(close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b(\s*+:\s*+|\s++)"
    r"(?=[\w.-]*+(?:/[\w.-]++)?#\d|https?://)",
    re.IGNORECASE,
)


def defang(text: str) -> str:
    """The text with @-mentions and issue-closing keywords made inert."""
    text = MENTION.sub("@" + ZERO_WIDTH_SPACE, text)
    return CLOSING_KEYWORD.sub(lambda m: m[1] + ZERO_WIDTH_SPACE + m[2], text)


# File names are the agent's: one of 4,096 characters must not push a body past GitHub's limit.
PATH_SHOWN_LIMIT = 300


def code_safe(path: str) -> str:
    """A path fit for inline code: no backtick or control character to break out, and short."""
    text = "".join(char if char.isprintable() else " " for char in path.replace("`", "'"))
    if len(text) > PATH_SHOWN_LIMIT:
        text = text[: PATH_SHOWN_LIMIT - 1] + "…"
    return text
