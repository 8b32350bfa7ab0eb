"""How one FIXWRIGHT_* value is read: parsers that turn its text into a typed value, or say why not.

A parser gets the variable's text (stripped, never blank: a blank variable takes its default) and
the default, and raises ValueError with what follows the variable's name in the problem, e.g.
`must be at least 1, got '0'.`
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sandbox.egress import pattern_problem

Parse = Callable[[str, Any], Any]

# How a yes-or-no variable may be spelled (unset is no).
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")
BRANCH_PREFIX_MAX_LENGTH = 60
BRANCH_PREFIX_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/"
)
# The limits a quota override may name (see app.quota.QuotaLimits).
QUOTA_LIMIT_NAMES = (
    "concurrent_jobs",
    "jobs_per_user_per_hour",
    "tokens_per_day",
    "cost_per_day_usd",
    "tokens_per_job",
    "cost_per_job_usd",
)
# Docker's memory sizes: a byte count, or one with a b, k, m or g suffix (powers of 1024).
MEMORY_SIZE = re.compile(r"(\d+)([bkmg]?)")
MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def text(raw: str, default: Any) -> str:
    return raw


def words(raw: str, default: Any) -> tuple[str, ...]:
    """A comma-separated list; empty items are dropped."""
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def number(kind: Callable[[str], int | float], minimum: float) -> Parse:
    """An int or a float of at least `minimum`."""

    def parse(raw: str, default: Any) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"must be a {kind.__name__} (e.g. {default}), got {raw!r}.")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {raw!r}.")
        return value

    return parse


def choice(allowed: tuple[str, ...]) -> Parse:
    """One of a few words, in any case."""

    def parse(raw: str, default: Any) -> str:
        if raw.lower() not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {raw.lower()!r}.")
        return raw.lower()

    return parse


def flag(raw: str, default: Any) -> bool:
    if raw.lower() not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"must be true or false, got {raw.lower()!r}.")
    return raw.lower() in TRUE_WORDS


def url(raw: str, default: Any) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL such as {default}, got {raw!r}.")
    return raw.rstrip("/")


def json_value(parse_json: Callable[[str], Any]) -> Parse:
    """A JSON document that `parse_json` turns into the value (raising ValueError or TypeError)."""

    def parse(raw: str, default: Any) -> Any:
        try:
            return parse_json(raw)
        except (ValueError, TypeError) as error:
            raise ValueError(f"is not valid: {error}.") from None

    return parse


def memory_size(minimum: int) -> Parse:
    """A memory size as Docker reads it (`512m`, `2g`, `1073741824`), kept in that form."""

    def parse(raw: str, default: Any) -> str:
        size = MEMORY_SIZE.fullmatch(raw.lower())
        if not size:
            raise ValueError(
                f"must be a memory size such as 512m or {default} (bytes, or a number with b, k, "
                f"m or g), got {raw!r}."
            )
        if int(size[1]) * MEMORY_UNITS[size[2]] < minimum:
            raise ValueError(f"must be at least {minimum // 1024**2}m, got {raw!r}.")
        return raw.lower()

    return parse


def app_id(raw: str, default: Any) -> str:
    if not raw.isdigit():
        raise ValueError(f"must be the numeric App ID shown on the App's page, got {raw!r}.")
    return raw


def store_url(raw: str, default: Any) -> str:
    if not raw.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError(
            "must be sqlite:///PATH (e.g. sqlite:///data/fixwright.db) or postgresql://..."
            " (e.g. postgresql://fixwright@db.internal/fixwright), got a URL of another kind"
            f" ({raw.split(':', 1)[0]!r}; the rest is not shown, as it may hold a password)."
        )
    return raw


def branch_prefix(raw: str, default: Any) -> str:
    problem = branch_prefix_problem(raw)
    if problem:
        raise ValueError(f"{problem}, got {raw!r}: use a prefix such as {default}.")
    return raw


def branch_prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot start work branch names, or None: a short namespace that git accepts."""
    if len(prefix) > BRANCH_PREFIX_MAX_LENGTH:
        return f"is longer than {BRANCH_PREFIX_MAX_LENGTH} characters"
    if not set(prefix) <= BRANCH_PREFIX_CHARACTERS:
        return "may hold only letters, digits, `.`, `_`, `-` and `/`"
    if not prefix.endswith("/"):
        # A namespace of its own: `<prefix>**` then matches fixwright's branches and nobody else's.
        return "must end with `/`"
    segments = prefix[:-1].split("/")
    if any(not s or s.startswith((".", "-")) or s.endswith((".", ".lock")) for s in segments):
        return "has a part that is empty, starts with `.` or `-`, or ends with `.` or `.lock`"
    if ".." in prefix:
        return "contains `..`"
    return None


# Deliveries are kept past GitHub's 3-day redelivery window, so that a replay inside it is still
# known for one.
SHORTEST_RETENTION_DAYS = 4


def retention_days(raw: str, default: Any) -> int:
    days: int = number(int, minimum=0)(raw, default)
    if 0 < days < SHORTEST_RETENTION_DAYS:
        raise ValueError(
            f"must be 0 (keep everything) or at least {SHORTEST_RETENTION_DAYS}, got {days}: "
            "deliveries are kept past GitHub's 3-day redelivery window, so that a replay inside "
            "it is still recognised."
        )
    return days


def parse_installation_quotas(raw: str) -> dict[int, dict[str, float]]:
    """`{"<installation id>": {"tokens_per_day": 1000000, ...}}`; raises ValueError naming the fault."""
    parsed = json.loads(raw)
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object keyed by installation id")
    quotas: dict[int, dict[str, float]] = {}
    for installation, limits in parsed.items():
        if not str(installation).isdigit() or not isinstance(limits, dict):
            raise ValueError(f"{installation!r} must be an installation id mapped to limits")
        unknown = set(limits) - set(QUOTA_LIMIT_NAMES)
        if unknown:
            raise ValueError(
                f"unknown limits {sorted(unknown)}; known: {', '.join(QUOTA_LIMIT_NAMES)}"
            )
        quotas[int(installation)] = {name: float(value) for name, value in limits.items()}
    return quotas


REGISTRIES = "registries"


def host_patterns(raw: str, default: Any) -> tuple[str, ...]:
    """Host patterns (`name`, `*.domain`, an IPv4 address) or `registries`, comma-separated."""
    patterns = words(raw, default)
    for pattern in patterns:
        problem = None if pattern == REGISTRIES else pattern_problem(pattern)
        if problem:
            raise ValueError(
                f"{pattern[:80]!r} {problem} (list host names, `*.` and a domain, IPv4 addresses "
                f"or `{REGISTRIES}`, comma-separated)."
            )
    return patterns


def readable_file(raw: str, default: Any) -> str:
    """A path to a file the service can read."""
    if raw and not Path(raw).is_file():
        raise ValueError(f"must be a readable file, got {raw!r}.")
    return raw


# A length of time: whole seconds, or a number with s, m, h or d (`90`, `30m`, `24h`, `7d`).
DURATION = re.compile(r"(\d{1,9})([smhd]?)")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration_seconds(text: str) -> float:
    """Seconds in a duration such as `24h`; ValueError saying the form when it is not one."""
    match = DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"must be a duration such as 3600, 30m, 24h or 7d, got {text!r}.")
    return float(int(match[1]) * DURATION_UNITS[match[2]])


def duration(minimum: float) -> Parse:
    """A duration (see `duration_seconds`) of at least `minimum` seconds, as seconds."""

    def parse(raw: str, default: Any) -> float:
        seconds = duration_seconds(raw)
        if seconds < minimum:
            raise ValueError(f"must be at least {minimum:g} seconds, got {raw!r}.")
        return seconds

    return parse
