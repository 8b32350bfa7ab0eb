"""The allow-list proxy's rules: host patterns, their filter, narrowing, and what it refused."""

from __future__ import annotations

import re

import pytest

from sandbox.egress import (
    covers,
    filter_file,
    narrowed,
    pattern_problem,
    proxy_config,
    proxy_environment,
    refused_hosts,
)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("files.example.org", None),
        ("*.example.org", None),
        ("192.0.2.7", None),
        ("*.org", "would allow every name under a top-level domain"),
        ("example.org/simple", "is not a host name, `*.` and a domain, or an IPv4 address"),
        ("http://example.org", "is not a host name, `*.` and a domain, or an IPv4 address"),
        ("exa mple.org", "is not a host name, `*.` and a domain, or an IPv4 address"),
        ("", "is not a host name"),
        ("a" * 300, "is longer than a host name can be"),
    ],
)
def test_a_pattern_is_a_host_a_wildcard_domain_or_an_address(
    pattern: str, problem: str | None
) -> None:
    """Nothing but a host: no scheme, path, port or space, no wildcard over a whole TLD."""
    assert pattern_problem(pattern) == problem


def test_the_filter_matches_whole_names_only() -> None:
    """Each line is anchored: a longer name that merely contains an allowed one is refused."""
    lines = filter_file(["files.example.org", "*.example.net", "192.0.2.7"]).splitlines()
    matches = [re.compile(line, re.IGNORECASE) for line in lines]

    def allowed(host: str) -> bool:
        return any(pattern.search(host) for pattern in matches)

    assert allowed("files.example.org") and allowed("FILES.example.org")
    assert allowed("a.example.net") and allowed("a.b.example.net")
    assert allowed("192.0.2.7")
    assert not allowed("example.net")  # `*.` is the names below, not the domain itself
    assert not allowed("evilfiles.example.org") and not allowed("files.example.org.evil.test")
    assert not allowed("files-example.org") and not allowed("192.0.2.70")


def test_a_repository_narrows_the_operators_list_and_never_widens_it() -> None:
    """What the operator's patterns cover is kept; the rest is named as a problem and left out."""
    operator = ("*.example.org", "mirror.example.net")
    kept, problems = narrowed(
        operator, ["pkgs.example.org", "*.cdn.example.org", "mirror.example.net", "other.test"]
    )
    assert kept == ("pkgs.example.org", "*.cdn.example.org", "mirror.example.net")
    assert problems == ["`other.test` is not in the operator's allow-list"]
    assert narrowed(operator, ["*.example.org"])[0] == ("*.example.org",)
    assert narrowed(("mirror.example.net",), ["*.example.net"])[1]
    assert not covers("*.example.org", "example.org")


def test_refusals_are_read_from_the_proxys_log() -> None:
    """Plain HTTP and CONNECT refusals alike, in order, repeats kept."""
    log = (
        'NOTICE Dec 07 [1]: Proxying refused on filtered domain "example.com"\n'
        "CONNECT Dec 07 [1]: Request (file descriptor 4): CONNECT a.test:443 HTTP/1.1\n"
        'NOTICE Dec 07 [1]: Proxying refused on filtered domain "a.test"\n'
        'NOTICE Dec 07 [1]: Proxying refused on filtered domain "example.com"\n'
    )
    assert refused_hosts(log) == ["example.com", "a.test", "example.com"]
    assert refused_hosts("x" * 100_000 + '"') == []


def test_the_proxy_denies_by_default_and_tunnels_only_to_web_ports() -> None:
    """The configuration the job's proxy runs with, and what its clients are told."""
    config = proxy_config("/tmp/filter")
    assert "FilterDefaultDeny Yes" in config and 'Filter "/tmp/filter"' in config
    assert [line for line in config.splitlines() if line.startswith("ConnectPort")] == [
        "ConnectPort 443",
        "ConnectPort 80",
    ]
    environment = proxy_environment()
    assert environment["HTTPS_PROXY"] == environment["http_proxy"] == "http://egress-proxy:8888"
    # The relay forwarder on the container's loopback is reached directly, never through it.
    assert environment["NO_PROXY"] == environment["no_proxy"] == "127.0.0.1,localhost"
