"""The environment of host subprocesses: an allow-list, checked as a value and through real git."""

from __future__ import annotations

import os

import pytest

from sandbox.git_command import execute_git, git_environment
from sandbox.host_environment import (
    NETWORK_VARIABLES,
    host_environment,
    is_loopback_http,
    operator_network,
    private_home,
)

CANARIES = {
    "FIXWRIGHT_ANTHROPIC_API_KEY": "sk-ant-canary-key",
    "FIXWRIGHT_WEBHOOK_SECRET": "canary-webhook-secret",
    "FIXWRIGHT_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----canary",
}
GIT_SAFETY = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LFS_SKIP_SMUDGE": "1",
}
BASE_SETTINGS = {
    "GIT_CONFIG_KEY_0": "protocol.allow",
    "GIT_CONFIG_VALUE_0": "never",
    "GIT_CONFIG_KEY_1": "protocol.https.allow",
    "GIT_CONFIG_VALUE_1": "always",
    "GIT_CONFIG_KEY_2": "submodule.recurse",
    "GIT_CONFIG_VALUE_2": "false",
    "GIT_CONFIG_KEY_3": "fetch.recurseSubmodules",
    "GIT_CONFIG_VALUE_3": "false",
    "GIT_CONFIG_KEY_4": "push.recurseSubmodules",
    "GIT_CONFIG_VALUE_4": "no",
}


def test_only_the_allowed_variables_are_passed_on() -> None:
    """Secrets, git's own variables and loader tricks stay behind; network set-up is kept, both cases."""
    operator = {
        **CANARIES,
        "PATH": "/opt/bin:/usr/bin",
        "HOME": "/root",
        "LD_PRELOAD": "/opt/evil.so",
        "GIT_DIR": "/elsewhere",
        "GIT_SSH_COMMAND": "sh -c 'touch /opt/owned'",
        "GIT_PROXY_COMMAND": "/opt/proxy",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "GIT_SSL_CAINFO": "/etc/ssl/git-ca.pem",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "localhost",
        "LANG": "de_DE.UTF-8",
    }

    env = host_environment(operator, home="/private/home", extra={"GIT_AUTHOR_NAME": "bot"})

    assert env == {
        "PATH": "/opt/bin:/usr/bin",
        "HOME": "/private/home",
        "LANG": "C",
        "LC_ALL": "C",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "GIT_SSL_CAINFO": "/etc/ssl/git-ca.pem",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "localhost",
        **GIT_SAFETY,
        "GIT_CONFIG_COUNT": "5",
        **BASE_SETTINGS,
        "GIT_AUTHOR_NAME": "bot",
    }


def test_http_is_allowed_only_towards_this_machine_and_the_token_rides_last() -> None:
    """A loopback remote adds `protocol.http.allow`; a command's own setting follows the base ones."""
    env = host_environment(
        {}, home="/h", allow_http=True, git_config=[("http.extraHeader", "Authorization: x")]
    )

    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["GIT_CONFIG_COUNT"] == "7"
    assert (env["GIT_CONFIG_KEY_5"], env["GIT_CONFIG_VALUE_5"]) == ("protocol.http.allow", "always")
    assert (env["GIT_CONFIG_KEY_6"], env["GIT_CONFIG_VALUE_6"]) == (
        "http.extraHeader",
        "Authorization: x",
    )
    assert is_loopback_http("http://127.0.0.1:8080/o/r.git")
    assert is_loopback_http("http://localhost/o/r.git") and is_loopback_http("http://[::1]:9/x")
    for url in ("https://127.0.0.1/x", "http://github.com/x", "http://10.0.0.1/x", "file:///x"):
        assert not is_loopback_http(url), url


def test_git_over_https_keeps_plain_http_refused() -> None:
    """The environment for a remote elsewhere never allows http; a loopback one does."""
    assert (
        "protocol.http.allow" not in git_environment(None, None, "https://github.com/o/r").values()
    )
    assert "protocol.http.allow" in git_environment(None, None, "http://127.0.0.1:1/o/r").values()


def test_a_real_git_subprocess_sees_exactly_the_allowed_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """`env` run by git through our runner shows the allow-list (and what git adds), no canary."""
    for name, value in {**CANARIES, "GIT_DIR": str(tmp_path), "LD_PRELOAD": "x.so"}.items():
        monkeypatch.setenv(name, value)
    # Outside any repository: in a linked worktree git itself exports GIT_DIR to aliases.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    shown = execute_git(["-c", "alias.show-env=!env", "show-env"], step="test")

    assert shown.returncode == 0, shown.stderr
    seen = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    added_by_git = {"GIT_CONFIG_PARAMETERS", "GIT_EXEC_PATH", "GIT_PREFIX"}
    assert set(seen) - added_by_git == set(git_environment(None, None))
    assert seen["HOME"] == private_home() and os.listdir(private_home()) == []
    assert not any(value in shown.stdout for value in CANARIES.values())
    assert "GIT_DIR" not in seen and "LD_PRELOAD" not in seen


def test_only_the_operators_network_variables_are_read_from_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a child may inherit is picked by name: the service's secrets are never among it."""
    monkeypatch.setenv("FIXWRIGHT_ANTHROPIC_API_KEY", "sk-ant-canary-0000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    picked = operator_network()
    assert picked["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert set(picked) <= {
        variant for name in (*NETWORK_VARIABLES, "PATH") for variant in (name, name.lower())
    }
