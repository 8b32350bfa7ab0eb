"""Claude's summary cannot ping strangers or close other issues when shown on GitHub."""

from handlers.common.untrusted_text import defang
from handlers.fix.pull_requests import render_pr_body


def test_mentions_and_closing_keywords_are_made_inert() -> None:
    """`@user` and `Fixes #12` / `closes org/repo#3` lose their meaning; e-mail and prose stay."""
    text = "Thanks @octocat. Fixes #12, closes org/repo#3; mail a@b.io; fixed the bug."
    inert = defang(text)
    assert "@octocat" not in inert and "Fixes #12" not in inert and "closes org/repo#3" not in inert
    assert inert.replace("\u200b", "") == text
    assert "a@b.io" in inert and "fixed the bug" in inert


def test_the_pr_body_keeps_its_own_fixes_line_only() -> None:
    """The body closes the issue it fixes, and nothing an injected summary names."""
    body = render_pr_body(7, "Done. Fixes #1 as well, cc @admin", ["a.py"])
    assert body.count("Fixes #") == 1 and "Fixes #7" in body
    assert "@admin" not in body


def test_every_form_of_closing_keyword_is_made_inert() -> None:
    """A colon, extra spaces, another repository or a URL still name an issue; all are defanged."""
    for text in (
        "fixes:#1",
        "Closes  :  #2",
        "resolved org/repo#3",
        "Fix https://github.com/org/repo/issues/4",
    ):
        inert = defang(text)
        assert "\u200b" in inert and inert.replace("\u200b", "") == text
    for text in ("prefix #1", "fixture #1", "the fix#1 branch"):
        assert defang(text) == text
