"""The App's slug is known before the first delivery: the operator's, or learned from GitHub at
start, so the intake can tell a question (`@<slug> …`) from any other mention."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from app.app_slug import with_app_slug
from app.log import get_logger
from app.routing import Registry
from app.web import create_app
from tests.fakes.github.fixtures import FakeGitHub
from tests.fixtures.inprocess import log_events
from tests.test_health import served


async def test_the_slug_is_learned_from_get_app(fake_github: FakeGitHub) -> None:
    """Unset: GitHub's `GET /app` names it (in lower case, as mentions are compared)."""
    fake_github.state.app_slug = "Acme-Fixwright"
    settings = await with_app_slug(fake_github.settings(), get_logger())
    assert settings.app_slug == "acme-fixwright"


async def test_a_configured_slug_is_kept_without_asking(fake_github: FakeGitHub) -> None:
    """The operator's slug wins; GitHub is not asked (its answer would have been refused here)."""
    fake_github.state.fail_next("GET", "/app", status=401, body={"message": "Bad credentials"})
    settings = await with_app_slug(fake_github.settings(app_slug="my-bot"), get_logger())
    assert settings.app_slug == "my-bot"
    assert fake_github.state.forced[("GET", "/app")]  # the refusal is still waiting


async def test_no_answer_leaves_questions_off_and_says_so(
    fake_github: FakeGitHub, logged: list[dict[str, Any]]
) -> None:
    """A refused or slow `GET /app` starts the service without the slug, with the remedy logged."""
    fake_github.state.fail_next("GET", "/app", status=401, body={"message": "Bad credentials"})
    refused = await with_app_slug(fake_github.settings(), get_logger())
    fake_github.state.delay("GET", "/app", 2.0)
    slow = await with_app_slug(fake_github.settings(), get_logger(), wait_seconds=0.2)

    assert refused.app_slug == slow.app_slug == ""
    reasons = [line["reason"] for line in log_events(logged, "service.app_slug_unknown")]
    assert reasons == [
        "GET /app with the App's JWT failed (RequestFailed)",
        "GitHub did not answer GET /app within 0.2 s",
    ]
    assert all("FIXWRIGHT_APP_SLUG" in line["remedy"] for line in logged if "remedy" in line)


def test_the_service_learns_the_slug_before_it_takes_deliveries(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Once started, the intake plans with the learned slug, and the workers and `/help` too."""
    settings = replace(
        fake_github.settings(),
        store_url=f"sqlite:///{tmp_path / 'fixwright.db'}",
        workers=0,
        state_dir=str(tmp_path),
        reconcile_interval_seconds=0.0,
    )
    app = create_app(settings, Registry([]))
    with served(app):
        assert app.state.intake.settings.app_slug == "fixwright"
        assert app.state.service.pool.settings.app_slug == "fixwright"
