"""The App's slug, known before the first delivery: questions are comments that mention it.

The intake plans jobs from the delivery and the settings alone, so a question (`@<slug> ...`)
can only be recognised when the settings hold the slug. The operator may set
`FIXWRIGHT_APP_SLUG`; otherwise the service asks GitHub (`GET /app`, with the App's JWT) once at
start, before it takes deliveries, and keeps the answer in the settings it serves with. When
GitHub does not answer in time the service starts anyway (the intake must not wait on GitHub),
recognises no question, and says so in its log with the remedy.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from githubkit.exception import GitHubException
from structlog.typing import FilteringBoundLogger

from app.config import APP_SLUG_CHARACTERS, Settings
from app.github_app import GitHubApp, GitHubAuthError

# The longest the start waits for GitHub's answer.
LEARN_TIMEOUT_SECONDS = 10.0
UNKNOWN_REMEDY = (
    "set FIXWRIGHT_APP_SLUG to the App's slug (its URL name) and restart; until then "
    "`@<slug>` questions are not answered"
)


async def with_app_slug(
    settings: Settings, log: FilteringBoundLogger, wait_seconds: float = LEARN_TIMEOUT_SECONDS
) -> Settings:
    """The settings with the App's slug: the operator's, or GitHub's answer to `GET /app`."""
    if settings.app_slug or not (settings.app_id and settings.private_key):
        return settings
    client = GitHubApp(settings).app_client()  # held: githubkit keeps a weak reference
    try:
        answer = client.rest.apps.async_get_authenticated()
        app = (await asyncio.wait_for(answer, wait_seconds)).parsed_data
    except TimeoutError:
        log.warning(
            "service.app_slug_unknown",
            reason=f"GitHub did not answer GET /app within {wait_seconds:g} s",
            remedy=UNKNOWN_REMEDY,
        )
        return settings
    except (GitHubException, GitHubAuthError) as error:
        log.warning(
            "service.app_slug_unknown",
            reason=f"GET /app with the App's JWT failed ({type(error).__name__})",
            remedy=UNKNOWN_REMEDY,
        )
        return settings
    slug = (app.slug or "").lower() if app is not None else ""
    if not slug or not set(slug) <= APP_SLUG_CHARACTERS:
        log.warning(
            "service.app_slug_unknown", reason="GET /app named no slug", remedy=UNKNOWN_REMEDY
        )
        return settings
    log.info("service.app_slug", slug=slug, source="GET /app")
    return replace(settings, app_slug=slug)
