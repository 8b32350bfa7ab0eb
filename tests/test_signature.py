"""The webhook signature check, against GitHub's own published example."""

from app.signature import is_valid_signature, sign

# From GitHub's "Validating webhook deliveries" documentation.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_signature_matches_githubs_published_test_vector() -> None:
    """Our HMAC is GitHub's: the documented secret and body give the documented header."""
    assert sign(GITHUB_BODY, GITHUB_SECRET) == GITHUB_SIGNATURE
    assert is_valid_signature(GITHUB_BODY, GITHUB_SIGNATURE, [GITHUB_SECRET])


def test_any_configured_secret_verifies_so_secrets_can_be_rotated() -> None:
    """During a rotation both the new and the previous secret are accepted."""
    assert is_valid_signature(GITHUB_BODY, GITHUB_SIGNATURE, ["new-secret", GITHUB_SECRET])


def test_wrong_or_malformed_signatures_are_refused() -> None:
    """A changed body, wrong secret, sha1 header, truncated or garbage value all fail."""
    refused = [
        (b"Hello, World?", GITHUB_SIGNATURE, GITHUB_SECRET),
        (GITHUB_BODY, GITHUB_SIGNATURE, "another secret"),
        (GITHUB_BODY, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", GITHUB_SECRET),
        (GITHUB_BODY, GITHUB_SIGNATURE[:-1], GITHUB_SECRET),
        (GITHUB_BODY, "sha256=" + "zz" * 32, GITHUB_SECRET),
        (GITHUB_BODY, "sha256=ü" + "0" * 63, GITHUB_SECRET),
        (GITHUB_BODY, "", GITHUB_SECRET),
    ]
    for body, header, secret in refused:
        assert not is_valid_signature(body, header, [secret]), header


def test_no_secret_verifies_nothing() -> None:
    """With no secret configured, nothing is accepted (never fail open)."""
    assert not is_valid_signature(GITHUB_BODY, GITHUB_SIGNATURE, [])
