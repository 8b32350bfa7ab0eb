"""What makes a schedule valid, wherever it is declared: the API's body (app/api/schedules.py)
and a repository's `schedules:` in `.github/fixwright.yml` (app/repo_config.py) are held to
the same rules, written once here. Pure: each check returns why a value is refused ("" when
it is not)."""

from __future__ import annotations

import re

from app.schedule_times import cron_problem, timezone_problem

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
MAX_CRON_CHARACTERS = 200
MAX_TIMEZONE_CHARACTERS = 100
MAX_PROMPT_CHARACTERS = 100_000
OUTPUTS = ("pull_request", "issue_comment", "issue")
DEFAULT_TIMEZONE = "UTC"
DEFAULT_OUTPUT = "pull_request"
NAME_PROBLEM = "must be 1 to 100 letters, digits, `.`, `_` or `-`, starting with a letter or digit"

__all__ = ["cron_problem", "timezone_problem"]


def name_problem(name: object) -> str:
    if not isinstance(name, str) or not re.fullmatch(NAME, name):
        return NAME_PROBLEM
    return ""


def nul_problem(value: str) -> str:
    """PostgreSQL's text cannot hold a NUL character."""
    return "must not contain a NUL character" if "\x00" in value else ""


def output_issue_problem(output: str, issue: int | None) -> str:
    """`issue` goes with `output: issue_comment`, and only with it."""
    if output == "issue_comment" and issue is None:
        return "output issue_comment needs the issue's number (issue)"
    if output != "issue_comment" and issue is not None:
        return "issue is only used with output issue_comment"
    return ""
