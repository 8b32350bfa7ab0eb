"""The default egress allow-list: the package registries this host's own package clients use.

An operator's host already says where packages come from: pip's index, npm's registry, apt's
sources, Go's module proxy. On a network with its own mirrors those are the mirrors, and the
environments' set-up is let through to exactly them. Each client is asked through its own
configuration; one that is not installed adds nothing (the operator names more hosts with
`FIXWRIGHT_EGRESS_ALLOWLIST`).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from sandbox.host_environment import host_environment, operator_network

APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
ASK_SECONDS = 10


def hosts_of(urls: Iterable[str]) -> list[str]:
    """The host names of URLs, lower-cased, in order, once each (`file:` and bare words skipped)."""
    hosts: list[str] = []
    for url in urls:
        parts = urlsplit(url.strip())
        if parts.scheme in ("http", "https") and parts.hostname and parts.hostname not in hosts:
            hosts.append(parts.hostname.lower())
    return hosts


def _ask(*argv: str) -> str:
    """A client's answer about its own configuration ("" when it is absent or fails)."""
    if shutil.which(argv[0]) is None and argv[0] != sys.executable:
        return ""
    # A home of its own, thrown away: npm writes its logs and cache there.
    with tempfile.TemporaryDirectory(prefix="fixwright-ask-") as home:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=ASK_SECONDS,
                check=False,
                env=host_environment(operator_network(), home=home),
            )
        except (OSError, subprocess.SubprocessError):
            return ""
    return done.stdout if done.returncode == 0 else ""


def pip_hosts() -> list[str]:
    """pip's configured indexes; without its own `index-url`, the index pip itself knows (and its
    file host) too."""
    configured: dict[str, list[str]] = {}
    for line in _ask(sys.executable, "-m", "pip", "config", "list").splitlines():
        key, _, value = line.partition("=")
        configured.setdefault(key.rsplit(".", 1)[-1], []).extend(value.strip("'\"").split())
    hosts = hosts_of([*configured.get("index-url", []), *configured.get("extra-index-url", [])])
    if configured.get("index-url"):
        return hosts
    try:
        index = importlib.import_module("pip._internal.models.index")
    except ImportError:
        return hosts
    builtin = getattr(index, "PyPI", None)
    files = getattr(builtin, "file_storage_domain", "")
    return hosts_of(
        [*(f"https://{host}/" for host in hosts), getattr(builtin, "url", ""), f"https://{files}/"]
    )


def npm_hosts() -> list[str]:
    return hosts_of(_ask("npm", "config", "get", "registry").split())


def go_hosts() -> list[str]:
    answer = _ask("go", "env", "GOPROXY", "GOSUMDB")
    words = answer.replace(",", " ").replace("|", " ").split()
    return hosts_of(word if "://" in word else f"https://{word}" for word in words)


def apt_hosts(sources: Iterable[Path] = APT_SOURCES) -> list[str]:
    """The hosts of apt's sources, one-line (`deb URL ...`) and deb822 (`URIs: URL`) alike."""
    urls: list[str] = []
    for source in sources:
        files = (
            sorted(source.glob("*.list")) + sorted(source.glob("*.sources"))
            if source.is_dir()
            else [source]
        )
        for path in files:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                words = line.split()
                if words[:1] in (["deb"], ["deb-src"]):
                    urls += [word for word in words[1:] if "://" in word][:1]
                elif words[:1] == ["URIs:"]:
                    urls += words[1:]
    return hosts_of(urls)


CLIENTS: tuple[Callable[[], list[str]], ...] = (pip_hosts, npm_hosts, go_hosts, apt_hosts)


def default_allowlist() -> tuple[str, ...]:
    """Every host the host's package clients fetch from, once each."""
    hosts: list[str] = []
    for client in CLIENTS:
        hosts += [host for host in client() if host not in hosts]
    return tuple(hosts)
