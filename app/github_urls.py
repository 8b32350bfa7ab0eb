"""Which GitHub address each use goes to: the API for REST, the web root for git and for people.

On github.com the REST API is `https://api.github.com` and the web root `https://github.com`; on
GitHub Enterprise Server they are `https://ghe.example.com/api/v3` and `https://ghe.example.com`.
The rule:

- REST calls go to `FIXWRIGHT_GITHUB_API_URL` (githubkit's base URL), and nothing else does.
- git clones, fetches and pushes go to the repository's `clone_url` as the API gives it, which
  GitHub (and GHES) puts on the web root; the installation token travels with every git request,
  so it is sent only when that URL is under `FIXWRIGHT_GITHUB_WEB_URL` (`git_url`).
- Links people see (pull requests, comments, reviews, check runs) are GitHub's own `html_url`
  fields, which are on the web root too; the service never builds one from the API's URL.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from app.config import Settings
from app.errors import JobFailed

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in, for comparing two URLs."""
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # never equal to a real port
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of `url` alone: never its path, query or any credentials in it."""
    scheme, host, port = _origin(urlsplit(url))
    shown = host if port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{shown}"


def under_web_root(url: str, web_url: str) -> bool:
    """Whether `url` is on the web root: same scheme, host and port, and below its path."""
    parts, root = urlsplit(url), urlsplit(web_url)
    if _origin(parts) != _origin(root) or parts.username or parts.password:
        return False
    prefix = root.path.rstrip("/") + "/"
    return parts.path.startswith(prefix)


def git_url(clone_url: str, settings: Settings) -> str:
    """The URL git uses for a repository of the App's installation: GitHub's `clone_url`, once
    it is known to be under `FIXWRIGHT_GITHUB_WEB_URL`, since the installation token goes with it.

    A `clone_url` elsewhere means the two URL settings name different GitHubs (GHES with the
    web URL left at github.com, say): the job fails saying which setting to change."""
    if under_web_root(clone_url, settings.github_web_url):
        return clone_url
    raise JobFailed(
        f"GitHub gave the repository's git address on {origin_of(clone_url)}, which is not "
        f"under FIXWRIGHT_GITHUB_WEB_URL ({origin_of(settings.github_web_url)}); fixwright sends "
        "the installation's token to git only there.",
        "Set FIXWRIGHT_GITHUB_WEB_URL to the web address of the GitHub that "
        "FIXWRIGHT_GITHUB_API_URL belongs to (on GitHub Enterprise Server, the same host without "
        "`/api/v3`), restart fixwright, then ask again.",
    )
