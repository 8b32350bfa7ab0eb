"""The default allow-list is what this host's own package clients are configured to fetch from."""

from __future__ import annotations

from pathlib import Path

from app.egress_defaults import apt_hosts, default_allowlist, hosts_of, pip_hosts
from sandbox.egress import pattern_problem


def test_apt_sources_in_both_formats_give_their_hosts(tmp_path: Path) -> None:
    """One-line `deb` entries and deb822 `URIs:` fields; comments and options are not hosts."""
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
        "deb-src https://src.example/debian bookworm main\n"
    )
    (sources / "extra.sources").write_text(
        "Types: deb\nURIs: https://deb822.example/debian https://Second.example/x\nSuites: a\n"
    )
    (sources / "ignored.txt").write_text("deb http://not-read.example/ a b\n")
    assert apt_hosts([tmp_path / "sources.list", sources]) == [
        "mirror.example",
        "src.example",
        "deb822.example",
        "second.example",
    ]


def test_urls_give_hosts_once_each_and_files_give_none() -> None:
    """Local indexes (`file:`) and words that are not URLs add nothing."""
    assert hosts_of(
        ["https://a.example/simple", "file:///opt/index", "a.example", "HTTPS://A.example/x"]
    ) == ["a.example"]


def test_the_hosts_found_here_are_valid_patterns() -> None:
    """Whatever this host's clients name is a usable allow-list entry (pip is always there)."""
    assert pip_hosts()
    for host in default_allowlist():
        assert pattern_problem(host) is None, host
