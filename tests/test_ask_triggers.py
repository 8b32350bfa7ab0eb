"""What is a question: a new comment by a human whose first line starts with `@<slug>`, and nothing
else. Planning is pure; the intake's answers are checked through the real intake."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.config import ConfigError, Settings, load_settings
from app.events import WebhookEvent
from handlers import build_registry
from handlers.ask.question import Place, question_of
from handlers.ask.triggers import mentions_app, plan_question, question_text
from tests.corpus import comment_on, review_comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY
from tests.fixtures.inprocess import EngineFactory

SETTINGS = Settings(webhook_secrets=("s",), app_slug="fixwright")


def delivered(name: str, payload: dict) -> WebhookEvent:
    return WebhookEvent(name=name, delivery_id="d-1", payload=payload)


def on_issue(body: str, **changes: object) -> WebhookEvent:
    return delivered("issue_comment", comment_on(REPOSITORY, INSTALLATION_ID, 1, body, **changes))


@pytest.mark.parametrize(
    "body",
    [
        "@fixwright why?",
        "@FixWright why?",
        "\n\n  @fixwright why?",
        "@fixwright: why?",
        "@fixwright, why?",
        "@fixwright\n\nwhy does greet() forget the comma?",
    ],
)
def test_a_first_line_starting_with_the_mention_is_a_question(body: str) -> None:
    assert mentions_app(body, "fixwright")
    [job] = build_registry().plan(on_issue(body), SETTINGS)
    assert job.kind == "ask" and job.requested_by == "octocat"


@pytest.mark.parametrize(
    "body",
    [
        "@fixwright-dev why?",  # another App's slug
        "@fixwrights why?",
        "@fixwright_x why?",
        "@someone why?",  # any other account
        "why? @fixwright",
        "Thanks!\n@fixwright why?",  # a mention on a later line
        "> @fixwright why?\n\nI wonder too.",  # a quoted question
        "`@fixwright why?`",
        "fixwright why?",
    ],
)
def test_anything_else_is_no_question(body: str) -> None:
    assert not mentions_app(body, "fixwright")
    assert build_registry().plan(on_issue(body), SETTINGS) == []


def test_a_bare_mention_asks_nothing() -> None:
    assert plan_question(on_issue("@fixwright"), SETTINGS) is None
    assert plan_question(on_issue("@fixwright ?!"), SETTINGS) is None


def test_edits_bots_and_an_unknown_slug_never_ask() -> None:
    """An edited comment, a bot's (the App's own answer included), and a service that does not
    know its slug queue nothing."""
    edited = comment_on(REPOSITORY, INSTALLATION_ID, 1, "@fixwright why?")
    edited["action"] = "edited"
    bot = comment_on(REPOSITORY, INSTALLATION_ID, 1, "@fixwright why?", sender="fixwright[bot]")
    bot["sender"]["type"] = "Bot"
    registry = build_registry()
    assert registry.plan(delivered("issue_comment", edited), SETTINGS) == []
    assert registry.plan(delivered("issue_comment", bot), SETTINGS) == []
    assert registry.plan(on_issue("@fixwright why?"), replace(SETTINGS, app_slug="")) == []


def test_the_slug_is_the_settings_own() -> None:
    """A deployment named otherwise answers to its own name only."""
    settings = replace(SETTINGS, app_slug="acme-bot")
    assert build_registry().plan(on_issue("@fixwright why?"), settings) == []
    [job] = build_registry().plan(on_issue("@Acme-Bot why?"), settings)
    assert job.kind == "ask"


def test_a_question_in_a_review_thread_is_planned_with_its_anchor() -> None:
    """A review comment's question keeps its path, line, hunk and the comment to reply to."""
    payload = review_comment_on(
        REPOSITORY,
        INSTALLATION_ID,
        7,
        "@fixwright what is this?",
        path="a.py",
        line=3,
        diff_hunk="@@ -1 +1 @@",
    )
    event = delivered("pull_request_review_comment", payload)
    [job] = build_registry().plan(event, SETTINGS)
    assert (job.kind, job.number) == ("ask", 7)
    assert job.target == f"{REPOSITORY}#7/ask-{payload['comment']['id']}"
    question = question_of(event)
    assert (question.place, question.text) == (Place.REVIEW_THREAD, "what is this?")
    assert question.anchor is not None
    assert (question.anchor.path, question.anchor.line, question.anchor.diff_hunk) == (
        "a.py",
        3,
        "@@ -1 +1 @@",
    )
    assert question.anchor.reply_to == payload["comment"]["id"]
    payload["action"] = "edited"
    assert build_registry().plan(event, SETTINGS) == []


def test_the_question_is_what_follows_the_mention() -> None:
    assert question_text("@fixwright: why?") == "why?"
    assert question_text("\n@fixwright\n\nwhy\nand how?") == "why\nand how?"
    assert question_text("@fixwright, is `x` used?") == "is `x` used?"


def test_a_hostile_mention_line_is_read_in_linear_time() -> None:
    """A first line of 60,000 characters is judged without backtracking."""
    assert not mentions_app("@" + "f" * 60_000, "fixwright")
    assert question_text("@fixwright " + "? " * 30_000) == ""


def test_the_setting_takes_a_slug_and_refuses_anything_else() -> None:
    assert (
        load_settings({"FIXWRIGHT_APP_SLUG": "@My-Fixwright"}, None, for_github=False).app_slug
        == "my-fixwright"
    )
    with pytest.raises(ConfigError, match="FIXWRIGHT_APP_SLUG must be the App's slug"):
        load_settings({"FIXWRIGHT_APP_SLUG": "my bot"}, None, for_github=False)


async def test_the_intake_ignores_what_is_no_question(make_engine: EngineFactory) -> None:
    """Through the real intake: another mention, an edit, a bot and a later line queue nothing."""
    engine = await make_engine(app_slug="fixwright")
    edited = comment_on(REPOSITORY, INSTALLATION_ID, 1, "@fixwright why?")
    edited["action"] = "edited"
    bot = comment_on(REPOSITORY, INSTALLATION_ID, 1, "@fixwright why?", sender="dependabot[bot]")
    bot["sender"]["type"] = "Bot"
    others = [
        comment_on(REPOSITORY, INSTALLATION_ID, 1, body)
        for body in ("@fixwright-dev why?", "@octocat why?", "Hm.\n@fixwright why?")
    ]
    for payload in (edited, bot, *others):
        answer = await engine.deliver("issue_comment", payload)
        assert (answer.status, answer.body) == (202, {"status": "ignored"})
    assert await engine.run_all() == []
