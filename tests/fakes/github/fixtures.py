"""Pytest fixtures for the fake GitHub: the App's key and a served fake with one installation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from app.config import Settings
from tests.fakes.github.server import create_app, serve
from tests.fakes.github.state import GitHubState

APP_ID = 4242
INSTALLATION_ID = 1001
ACCOUNT = "octo-org"
REPOSITORY = "octo-org/hello"
MAINTAINER = "octocat"
WEBHOOK_SECRET = "webhook-secret-for-tests"
INSTALLATION_PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}

HELLO_FILES = {
    "README.md": "# hello\n\nGreets people.\n",
    "pyproject.toml": '[project]\nname = "hello"\nversion = "0.1.0"\n',
    "hello/__init__.py": '"""Greetings."""\n',
    "hello/greet.py": (
        '"""Build greetings."""\n\n\ndef greet(name: str) -> str:\n'
        '    """Greet `name` politely."""\n    return "Hello " + name\n'
    ),
    "tests/test_greet.py": (
        "from hello.greet import greet\n\n\ndef test_greet():\n"
        '    assert greet("World") == "Hello, World!"\n'
    ),
}
HELLO_ISSUE = (
    "greet() forgets the comma",
    '`greet("World")` returns `Hello World` but should return `Hello, World!`; '
    "tests/test_greet.py fails.",
)


def generate_private_key() -> str:
    """A fresh RSA 2048 private key in PEM (PKCS#8), like the one GitHub lets you download."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_of(private_key: str) -> str:
    """The PEM public key that verifies signatures made with `private_key`."""
    key = serialization.load_pem_private_key(private_key.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class FakeGitHub:
    """A served fake GitHub: its API's URL, its state, the App's credentials, its web root.

    `web_url` is empty when the API's URL is the web root too (the github.com-like fake); the
    GHES-shaped fake (tests/fakes/github/ghes.py) serves git and `html_url`s there instead.
    """

    url: str
    state: GitHubState
    app_id: int
    private_key: str
    web_url: str = ""

    @property
    def web_root(self) -> str:
        """Where git and people's links go."""
        return self.web_url or self.url

    def settings(self, **overrides: Any) -> Settings:
        """Service settings pointing at this fake, with the App's real credentials."""
        base = Settings(
            webhook_secrets=(WEBHOOK_SECRET,),
            app_id=str(self.app_id),
            private_key=self.private_key,
            github_api_url=self.url,
            github_web_url=self.web_root,
        )
        return replace(base, **overrides)

    def environment(self) -> dict[str, str]:
        """The FIXWRIGHT_* variables that point the service at this fake."""
        return {
            "FIXWRIGHT_APP_ID": str(self.app_id),
            "FIXWRIGHT_PRIVATE_KEY": self.private_key,
            "FIXWRIGHT_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "FIXWRIGHT_GITHUB_API_URL": self.url,
            "FIXWRIGHT_GITHUB_WEB_URL": self.web_root,
        }

    def clone_url(self, repository: str = REPOSITORY, token: str | None = None) -> str:
        """The repository's git URL, with `x-access-token:<token>@` when a token is given."""
        if token is None:
            return f"{self.web_root}/{repository}.git"
        scheme, _, rest = self.web_root.partition("://")
        return f"{scheme}://x-access-token:{token}@{rest}/{repository}.git"


def new_state(root: Path, url: str, private_key: str) -> GitHubState:
    """A fresh state: App 4242 installed (1001) on octo-org for octo-org/hello with issue #1."""
    state = GitHubState(
        root=root, app_id=APP_ID, public_key=public_key_of(private_key), base_url=url
    )
    state.add_repository(ACCOUNT, "hello", HELLO_FILES)
    state.add_installation(INSTALLATION_ID, ACCOUNT, [REPOSITORY], INSTALLATION_PERMISSIONS)
    state.set_permission(REPOSITORY, MAINTAINER, "admin")
    state.add_issue(REPOSITORY, *HELLO_ISSUE, user=MAINTAINER)
    return state


@pytest.fixture(scope="session")
def app_private_key() -> str:
    """The App's RSA private key (PEM), made once per test run."""
    return generate_private_key()


@pytest.fixture(scope="session")
def fake_github_app() -> Iterator[tuple[Starlette, str]]:
    """One fake GitHub server for the whole test run; each test gives it a fresh state."""
    app = create_app()
    with serve(app) as url:
        yield app, url


@pytest.fixture
def fake_github(
    fake_github_app: tuple[Starlette, str], app_private_key: str, tmp_path: Path
) -> Iterator[FakeGitHub]:
    """A running fake GitHub with a fresh state for this test (see `new_state`)."""
    app, url = fake_github_app
    state = new_state(tmp_path / "github", url, app_private_key)
    app.state.github = state
    yield FakeGitHub(url=url, state=state, app_id=APP_ID, private_key=app_private_key)
    app.state.github = None
