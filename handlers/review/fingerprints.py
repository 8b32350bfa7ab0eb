"""Hidden fingerprints on inline comments, so a re-run never posts the same finding twice."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

FINDING_MARKER = "<!-- fixwright:finding {fingerprint} -->"
FINDING_PATTERN = re.compile(r"<!-- fixwright:finding (?P<fingerprint>[0-9a-f]{40}) -->")
_WORDS = re.compile(r"[a-z0-9]+")


def normalise_title(title: str) -> str:
    """Case, punctuation and spacing do not make a finding new."""
    return " ".join(_WORDS.findall(title.lower()))


def fingerprint(path: str, title: str, line_text: str) -> str:
    """sha1 of the file, the normalised title and the text of the line the finding is on.

    The line's text, not its number: a commit that shifts the line keeps the fingerprint, one that
    changes the line makes the finding new.
    """
    key = "\n".join((path, normalise_title(title), " ".join(line_text.split())))
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def marker(value: str) -> str:
    return FINDING_MARKER.format(fingerprint=value)


def fingerprints_in(bodies: Iterable[str]) -> set[str]:
    """The fingerprints of the findings already posted, read from comment bodies."""
    return {match["fingerprint"] for body in bodies for match in FINDING_PATTERN.finditer(body)}
