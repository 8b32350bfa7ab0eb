"""A check of the agent's changes for secrets before they are committed and pushed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sandbox.redaction import TOKEN_PATTERN

# Shorter configured values would match ordinary text; they cannot be told apart from it.
MIN_SECRET_LENGTH = 8

# What each token shape that app.log redacts is called, by how it starts.
_TOKEN_KINDS: tuple[tuple[str, str], ...] = (
    ("ghs_", "a GitHub App installation token (ghs_)"),
    ("ghu_", "a GitHub App user token (ghu_)"),
    ("ghr_", "a GitHub refresh token (ghr_)"),
    ("gho_", "a GitHub OAuth token (gho_)"),
    ("ghp_", "a GitHub personal access token (ghp_)"),
    ("github_pat_", "a GitHub fine-grained personal access token (github_pat_)"),
    ("sk-ant-", "an Anthropic API key (sk-ant-)"),
    ("fwcap-", "a fixwright model capability token (fwcap-)"),
    ("-----BEGIN", "a private key (PEM)"),
)


def _kind(match: str) -> str:
    for prefix, name in _TOKEN_KINDS:
        if match.startswith(prefix):
            return name
    return "a secret token"


def find_secrets(text: str, secrets: Iterable[str] | Mapping[str, str] = ()) -> list[str]:
    """What secrets `text` holds, by name and never by value, sorted; empty when it is clean.

    `secrets` are configured values to look for: a mapping names them (for example
    {"FIXWRIGHT_ANTHROPIC_API_KEY": key}); plain values are reported as "a configured secret".
    Token shapes (GitHub tokens, Anthropic keys, private keys) are found whatever was passed.
    """
    named = (
        secrets.items()
        if isinstance(secrets, Mapping)
        else (("a configured secret", value) for value in secrets)
    )
    found = {name for name, value in named if len(value) >= MIN_SECRET_LENGTH and value in text}
    found.update(_kind(match.group(0)) for match in TOKEN_PATTERN.finditer(text))
    return sorted(found)
