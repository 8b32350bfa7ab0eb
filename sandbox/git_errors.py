"""Git failures in words a user can act on: what went wrong at which step, never the token."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sandbox.redaction import redact_text

REMOTE_SAID_LIMIT = 200


class GitError(Exception):
    """A git step of a job failed; the message is safe to show a user (it never holds a token)."""

    def __init__(self, step: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.step = step
        self.message = message
        self.transient = transient  # GitHub could not answer (network, 5xx): worth trying again


class PushRejected(GitError):
    """GitHub refused the push; the message says why (protection, diverged branch, permission)."""

    def __init__(self, message: str) -> None:
        super().__init__("push", message)


# (pattern over git's output, what it means); the first match wins, so order matters. Output can
# quote the repository (paths, refs): a `.*` between two phrases starts from the first phrase of
# its line only (atomic), or a line repeating that phrase took quadratic time.
# GitHub answered, and said no:
_REFUSALS: tuple[tuple[str, str], ...] = (
    (
        r"^(?>.*?remote branch ).* not found",
        "the branch to start from does not exist on GitHub (is the repository empty?)",
    ),
    (
        r"repository not found|returned error: 404|not found$",
        "the repository does not exist, or the App's token cannot see it (is the App installed "
        "on this repository?)",
    ),
    (
        r"authentication failed|could not read username|invalid username or token"
        r"|returned error: 401",
        "GitHub refused the App's token (it may have expired or been revoked)",
    ),
    (
        r"^(?>.*?permission to ).* denied|returned error: 403",
        "the App's token may not do this (the App needs write access to the repository's contents)",
    ),
)
# GitHub could not answer:
_TROUBLE: tuple[tuple[str, str], ...] = (
    (
        r"could not resolve host|failed to connect|connection refused|connection timed out"
        r"|operation timed out|couldn't connect|network is unreachable|ssl certificate"
        r"|gnutls|tls handshake|server certificate",
        "GitHub could not be reached over the network",
    ),
    (
        r"returned error: 5\d\d|internal server error|bad gateway|service unavailable",
        "GitHub had a server error; trying again later usually works",
    ),
)

_PUSH_REASONS: tuple[tuple[str, str], ...] = (
    (
        r"protected branch|gh006|gh013|repository rule violations|branch is protected",
        "the branch is protected on GitHub (a branch protection rule or ruleset refused it)",
    ),
    (
        r"non-fast-forward|fetch first|\(stale info\)|updates were rejected because",
        "the remote branch has commits the job does not have (someone pushed to it meanwhile)",
    ),
    (
        r"pre-receive hook declined|remote rejected",
        "GitHub's checks on the repository refused the push",
    ),
)


def _first_match(output: str, reasons: Iterable[tuple[str, str]]) -> str | None:
    lowered = output.lower()
    for pattern, reason in reasons:
        if re.search(pattern, lowered, re.MULTILINE):
            return reason
    return None


def remote_said(output: str, secrets: Iterable[str] = ()) -> str:
    """GitHub's own words from git's output (the `remote:` lines), short and redacted."""
    lines = [
        line.removeprefix("remote:").strip()
        for line in output.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    ]
    text = redact_text(" ".join(lines), secrets)
    if len(text) > REMOTE_SAID_LIMIT:
        text = text[: REMOTE_SAID_LIMIT - 1] + "…"
    return text


def explain_failure(step: str, output: str, secrets: Iterable[str] = ()) -> GitError:
    """The `GitError` for git's failure `output` at `step` ("clone", "fetch", "commit", ...)."""
    secrets = tuple(secrets)
    refusal = _first_match(output, _REFUSALS)
    trouble = None if refusal else _first_match(output, _TROUBLE)
    reason = refusal or trouble
    if reason is None:
        last_line = next(
            (line for line in reversed(output.strip().splitlines()) if line.strip()), ""
        )
        reason = "git said: " + redact_text(last_line.removeprefix("fatal: "), secrets)[:200]
    return GitError(step, f"The {step} failed: {reason}.", transient=trouble is not None)


def explain_push_failure(output: str, branch: str, secrets: Iterable[str] = ()) -> GitError:
    """`PushRejected` when GitHub refused the push to `branch`, else the `GitError` of `output`."""
    secrets = tuple(secrets)
    reason = _first_match(output, _PUSH_REASONS) or _first_match(output, _REFUSALS)
    if reason is None:
        return explain_failure("push", output, secrets)
    message = f"Pushing to the branch {branch} was refused: {reason}."
    said = remote_said(output, secrets)
    if said:
        message += f' GitHub said: "{said}"'
    return PushRejected(message)
