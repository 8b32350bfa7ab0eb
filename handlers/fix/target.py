"""The GitHub look-ups a fix needs: the repository's default branch, the issue's comments, identities."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from app.config import Settings
from app.context import Context
from app.quota import cost_of_run
from handlers.common.check_runs import branch_head_sha
from handlers.fix.pull_requests import RunStats
from sandbox.redaction import redact_text
from sandbox.runner import RunResult

PAGE_SIZE = 100


@dataclass(frozen=True)
class FixTarget:
    """Where the fix starts: the default branch, its head commit, and how to clone it."""

    default_branch: str
    head_sha: str
    clone_url: str
    issue_title: str


async def load_target(context: Context) -> FixTarget:
    owner, name = context.owner_and_name
    github = context.github
    repository = (await github.rest.repos.async_get(owner, name)).parsed_data
    issue = context.job.payload.get("payload", {}).get("issue", {})
    return FixTarget(
        default_branch=repository.default_branch,
        head_sha=await branch_head_sha(github, context.job.repository, repository.default_branch),
        clone_url=repository.clone_url,
        issue_title=str(issue.get("title") or ""),
    )


async def issue_comments(context: Context, number: int) -> list[dict[str, Any]]:
    """Every comment on the issue, oldest first, as GitHub sent them."""
    owner, name = context.owner_and_name
    comments: list[dict[str, Any]] = []
    page = 1
    while True:
        response = await context.github.rest.issues.async_list_comments(
            owner, name, number, per_page=PAGE_SIZE, page=page
        )
        batch = response.json()
        comments.extend(batch)
        if len(batch) < PAGE_SIZE:
            return comments
        page += 1


async def noreply_identity(context: Context, login: str) -> tuple[str, str]:
    """(name, email) GitHub attributes to `login`: its private no-reply address."""
    user = (await context.github.rest.users.async_get_by_username(login)).parsed_data
    return login, f"{user.id}+{login}@users.noreply.github.com"


async def bot_identity(context: Context) -> tuple[str, str]:
    """The App's bot account, so commits show as made by the App."""
    return await noreply_identity(context, f"{context.app_slug}[bot]")


def without_secrets(result: RunResult, secrets: Iterable[str]) -> RunResult:
    """The run with secrets taken out of Claude's closing text, before any of it is cut or posted.

    Redacting first matters: a summary cut to length can split a secret (a private key, say)
    so that what is left no longer matches it, and the half that remains would be published.
    """
    if result.final is None or not result.final.result:
        return result
    text = redact_text(result.final.result, tuple(secrets))
    return replace(result, final=replace(result.final, result=text))


def run_stats(result: RunResult, model: str, seconds: float, settings: Settings) -> RunStats:
    """What the run cost, for the PR body, the progress comment and the job record: the relay's
    counts at the price table's price, as the quota ledger charges it (never the CLI's figure)."""
    return RunStats(
        model=model or "default",
        turns=result.num_turns,
        usage=result.usage,
        cost_usd=cost_of_run(result.usage, model, settings.model_prices, settings.relay_models),
        seconds=seconds,
    )


def usage_record(stats: RunStats) -> dict[str, Any]:
    """What the job record keeps of a run's cost."""
    usage = stats.usage
    return {
        "model": stats.model,
        "turns": stats.turns,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "cost_usd": stats.cost_usd,
        "seconds": round(stats.seconds, 3),
    }
