"""Host-side git commands: argv only, hardened settings, the token in one command's environment."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from app.github_app import git_authorization
from sandbox.git_errors import GitError, explain_failure

GIT_TIMEOUT_SECONDS = 600.0
# Every host-side git command runs with these: nothing from the checkout may execute here.
HARDENING = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "credential.helper=",
    "commit.gpgsign=false",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
)
# Operator variables git may keep (TLS and proxy set-up); every other GIT_* is dropped.
KEPT_GIT_VARIABLES = ("GIT_SSL_", "GIT_HTTP_", "GIT_PROXY_")


def git_environment(token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The environment for one git command: English messages, no prompts, the token if given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key.startswith(KEPT_GIT_VARIABLES)
    }
    env.pop("SSH_ASKPASS", None)
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    if token is not None:
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0="Authorization: " + git_authorization(token),
        )
    return {**env, **(extra or {})}


def execute_git(
    args: Sequence[str],
    *,
    step: str,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one hardened git command (argv only, never a shell) and return what it did."""
    argv = ["git"]
    for setting in HARDENING:
        argv += ["-c", setting]
    try:
        return subprocess.run(
            [*argv, *args],
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            env=git_environment(token, env),
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise GitError(
            step, f"The {step} failed: git gave no result within {GIT_TIMEOUT_SECONDS:.0f} s."
        ) from None


def token_secrets(token: str | None) -> tuple[str, ...]:
    """The forms of `token` that must never reach a message: itself and its header value."""
    return (token, git_authorization(token)) if token else ()


def run_git(
    args: Sequence[str],
    *,
    step: str,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run one hardened git command; a failure becomes a `GitError` for `step`."""
    result = execute_git(args, step=step, token=token, env=env, stdin=stdin)
    if result.returncode not in ok_codes:
        raise explain_failure(step, result.stderr + result.stdout, token_secrets(token))
    return result
