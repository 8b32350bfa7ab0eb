"""The environment of every subprocess the host starts: built from an allow-list, never inherited.

The service's own environment holds the model key, the webhook secret and the App's key, so no
child gets it. A child gets a search path, a private empty home (nothing of the operator's
dotfiles: git reads `~/.config/git/attributes` even with its global configuration off), the
C locale, the operator's CA and proxy variables that git needs to reach GitHub, and whatever one
command needs (a token, an identity), passed by that command alone.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The operator's network set-up, kept as it is: where the CA certificates are, which proxy to use.
NETWORK_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)
# Git reads no system or user configuration, never asks on a terminal, never fetches LFS content.
GIT_SAFETY = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LFS_SKIP_SMUDGE": "1",
}
# Command-scope configuration: only https reaches a remote, and submodules are never followed.
GIT_SETTINGS = (
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("push.recurseSubmodules", "no"),
)
# Plain http only for a remote on this machine (a test server, a local mirror).
LOOPBACK_HTTP = ("protocol.http.allow", "always")
LOOPBACK_NAMES = ("localhost",)


def operator_network() -> dict[str, str]:
    """The operator's CA and proxy variables, the only part of this process's environment that
    any child is given: read here, by name, so the rest (the service's secrets) is never passed on."""
    return {
        variant: os.environ[variant]
        for name in (*NETWORK_VARIABLES, "PATH")
        for variant in (name, name.lower())
        if variant in os.environ
    }


def host_environment(
    operator: Mapping[str, str],
    *,
    home: str,
    allow_http: bool = False,
    git_config: Sequence[tuple[str, str]] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of one host subprocess; `operator` is only read for the allow-list.

    `git_config` is configuration for this one command (a token's `http.extraHeader`), passed as
    `GIT_CONFIG_*` so it never shows in a process listing; `extra` is this command's own variables.
    """
    env = {"PATH": operator.get("PATH") or DEFAULT_PATH, "HOME": home, "LANG": "C", "LC_ALL": "C"}
    for name in NETWORK_VARIABLES:
        for variant in (name, name.lower()):
            if variant in operator:
                env[variant] = operator[variant]
    env.update(GIT_SAFETY)
    settings = [*GIT_SETTINGS, *([LOOPBACK_HTTP] if allow_http else []), *git_config]
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for index, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return {**env, **(extra or {})}


def is_loopback_http(url: str) -> bool:
    """True for an `http://` URL whose host is this machine (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


@functools.cache
def private_home() -> str:
    """An empty directory only the service can read, made once per process: every child's HOME."""
    home = tempfile.mkdtemp(prefix="fixwright-home-")
    atexit.register(shutil.rmtree, home, True)  # a process killed with SIGKILL leaves one behind
    return home
