"""The allow-list proxy's rules, pure: host patterns in, tinyproxy's filter and configuration out;
its log in, the hosts it refused out.

A pattern is a host name (`files.example.org`), a wildcard for the names below a domain
(`*.example.org`, not `example.org` itself), or an IPv4 address. Names are matched whole and
case-folded; nothing else (paths, ports, schemes) is part of a pattern.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

PROXY_PORT = 8888
PROXY_ALIAS = "egress-proxy"
MAX_PATTERNS = 200
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# What tinyproxy writes when its filter refuses a host (plain HTTP and CONNECT alike).
REFUSED = re.compile(r'Proxying refused on filtered domain "(?P<host>[^"\s]{1,253})"')


def pattern_problem(pattern: object) -> str | None:
    """Why `pattern` is not a host pattern, or None."""
    if not isinstance(pattern, str) or not pattern:
        return "is not a host name"
    text = pattern.lower()
    if len(text) > 253:
        return "is longer than a host name can be"
    if _is_ip(text):
        return None
    name = text.removeprefix("*.")
    if not HOST.fullmatch(name):
        return "is not a host name, `*.` and a domain, or an IPv4 address"
    if text.startswith("*.") and "." not in name:
        return "would allow every name under a top-level domain"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def covers(pattern: str, host: str) -> bool:
    """Whether `pattern` lets `host` (a name, an address, or another `*.` pattern) through."""
    pattern, host = pattern.lower(), host.lower()
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[1:]  # ".example.org"
    return host.removeprefix("*.").endswith(suffix) and host.removeprefix("*.") != suffix[1:]


def narrowed(
    operator: Sequence[str], repository: Iterable[str]
) -> tuple[tuple[str, ...], list[str]]:
    """The repository's own list, kept to what the operator's allows: (patterns, problems).

    A repository narrows, never widens: each of its patterns must be covered by one of the
    operator's; one that is not is named in the problems and left out.
    """
    kept: list[str] = []
    problems: list[str] = []
    for pattern in repository:
        problem = pattern_problem(pattern)
        if problem:
            problems.append(f"`{str(pattern)[:80]}` {problem}")
        elif not any(covers(allowed, pattern) for allowed in operator):
            problems.append(f"`{pattern}` is not in the operator's allow-list")
        elif pattern.lower() not in kept:
            kept.append(pattern.lower())
    return tuple(kept), problems


def filter_file(patterns: Iterable[str]) -> str:
    """tinyproxy's filter (extended regular expressions, one per line, anchored at both ends)."""
    lines = []
    for pattern in patterns:
        text = pattern.lower()
        if text.startswith("*."):
            lines.append(r"^([a-z0-9-]+\.)+" + re.escape(text[2:]) + "$")
        else:
            lines.append("^" + re.escape(text) + "$")
    return "".join(line + "\n" for line in lines)


def proxy_config(filter_path: str) -> str:
    """tinyproxy's configuration: deny what the filter does not name; tunnels to 443 and 80 only."""
    return (
        f"Port {PROXY_PORT}\n"
        "Listen 0.0.0.0\n"
        "Timeout 120\n"
        "MaxClients 64\n"
        # `Connect` logs each request and each refusal, which is what the job's log counts.
        "LogLevel Connect\n"
        "FilterDefaultDeny Yes\n"
        "FilterExtended Yes\n"
        "FilterURLs Off\n"
        "FilterCaseSensitive No\n"
        f'Filter "{filter_path}"\n'
        "ConnectPort 443\n"
        "ConnectPort 80\n"
        "DisableViaHeader Yes\n"
    )


def refused_hosts(log: str) -> list[str]:
    """The hosts the proxy refused, in the order it refused them (repeats kept)."""
    return [match["host"] for match in REFUSED.finditer(log)]


# The container's own loopback is not behind the proxy: the relay forwarder listens there.
LOCAL = "127.0.0.1,localhost"


def proxy_environment(proxy_host: str = PROXY_ALIAS) -> dict[str, str]:
    """What a container behind the proxy is given: both spellings, as tools read either."""
    url = f"http://{proxy_host}:{PROXY_PORT}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    return {**dict.fromkeys(names, url), "NO_PROXY": LOCAL, "no_proxy": LOCAL}
