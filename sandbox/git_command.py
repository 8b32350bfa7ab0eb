"""Host-side git commands: argv only, hardened settings, the token in one command's environment."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Mapping, Sequence

from sandbox.git_errors import GitError, explain_failure
from sandbox.host_environment import (
    host_environment,
    is_loopback_http,
    operator_network,
    private_home,
)

GIT_TIMEOUT_SECONDS = 600.0
# Every host-side git command runs with these: nothing from a checkout may execute here.
HARDENING = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "credential.helper=",
    "commit.gpgsign=false",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
)
# The file transport, for a clone from a repository of the host's own (sandbox/git_mirror.py).
LOCAL_FILES = ("protocol.file.allow", "always")


def git_authorization(token: str) -> str:
    """The `Authorization` header value git needs for GitHub with an installation token.

    Pass it as `git -c http.extraHeader="Authorization: <value>"` rather than putting the token
    in the remote URL, where git would echo it in error messages and store it in `.git/config`.
    """
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


def git_environment(
    token: str | None,
    extra: Mapping[str, str] | None,
    remote: str | None = None,
    local: bool = False,
) -> dict[str, str]:
    """The environment for one git command: the allow-list, plus the token if given.

    Plain http is allowed only when `remote`, the URL this command talks to, is on this machine;
    a path as the remote only when the caller says it is one of the host's own (`local`).
    """
    header = [("http.extraHeader", "Authorization: " + git_authorization(token))] if token else []
    return host_environment(
        operator_network(),
        home=private_home(),
        allow_http=remote is not None and is_loopback_http(remote),
        git_config=[*header, *([LOCAL_FILES] if local else [])],
        extra=extra,
    )


def _argv(args: Sequence[str]) -> list[str]:
    argv = ["git"]
    for setting in HARDENING:
        argv += ["-c", setting]
    return [*argv, *args]


def execute_git(
    args: Sequence[str],
    *,
    step: str,
    token: str | None = None,
    remote: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    local: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one hardened git command (argv only, never a shell) and return what it did."""
    try:
        return subprocess.run(
            _argv(args),
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            env=git_environment(token, env, remote, local),
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
    remote: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    ok_codes: tuple[int, ...] = (0,),
    local: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one hardened git command; a failure becomes a `GitError` for `step`."""
    result = execute_git(
        args, step=step, token=token, remote=remote, env=env, stdin=stdin, local=local
    )
    if result.returncode not in ok_codes:
        raise explain_failure(step, result.stderr + result.stdout, token_secrets(token))
    return result


def run_git_bytes(
    args: Sequence[str],
    *,
    step: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
) -> bytes:
    """A local git command over raw bytes (paths are bytes to git); its output, or a `GitError`."""
    try:
        result = subprocess.run(
            _argv(args),
            input=stdin,
            capture_output=True,
            check=False,
            env=git_environment(None, env),
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise GitError(
            step, f"The {step} failed: git gave no result within {GIT_TIMEOUT_SECONDS:.0f} s."
        ) from None
    if result.returncode != 0:
        raise explain_failure(step, (result.stderr + result.stdout).decode(errors="replace"))
    return result.stdout
