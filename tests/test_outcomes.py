"""What became of fixwright's pull requests, in process: the fix job records the pull request it
opens, and GitHub's deliveries (closed with or without a merge, reopened, reviews) move it; the
metrics, `GET /v1/stats` and `fixwright stats` read it. Pull requests anyone else opened, on any
branch, are never counted."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest

from app.cli import main
from app.outcome_metrics import refresh_pull_request_gauge
from app.store import JobState
from app.store.outcomes import PullRequestChange
from tests.fakes.github.fixtures import REPOSITORY
from tests.fakes.github.pull_events import close_pull_request, reopen_pull_request
from tests.fakes.sandbox import ScriptedRun
from tests.fixtures.inprocess import Engine, finished
from tests.test_api_core import Api, assert_error, make_api  # noqa: F401 (a fixture)
from tests.test_fix_handler import GREET, fixed_greet
from tests.test_followup import fixed_pull, review_of
from tests.test_task_api import GREETING, TaskApi, api, run_task, task  # noqa: F401 (a fixture)

OTHER_BRANCH = "fixwright/not-by-fixwright"


def sample(engine: Engine, name: str, **labels: str) -> float:
    value = engine.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def gauge(engine: Engine) -> dict[str, float]:
    """`fixwright_pull_requests` by outcome, as a scrape reads it from the store."""
    await refresh_pull_request_gauge(engine.store, engine.metrics)
    return {
        outcome: sample(engine, "fixwright_pull_requests", outcome=outcome)
        for outcome in ("open", "merged", "closed")
    }


async def deliver_and_run(engine: Engine, event: str, payload: dict[str, Any]) -> list[Any]:
    answer = await engine.deliver(event, payload)
    assert answer.body.get("status") == "queued", answer.body
    return await engine.run_all()


def engine_store_url(engine: Engine) -> str:
    return f"sqlite:///{engine.home / 'store' / 'fixwright.db'}"


async def test_a_merged_pull_request_moves_the_metrics_and_the_stats(
    engine: Engine,
    make_api: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
) -> None:
    number = await fixed_pull(engine)
    assert await gauge(engine) == {"open": 1, "merged": 0, "closed": 0}

    payload = close_pull_request(
        engine.github.state, REPOSITORY, number, merged=True, after=timedelta(hours=3)
    )
    assert payload["pull_request"]["merged"] is True
    [job] = await deliver_and_run(engine, "pull_request", payload)
    assert finished(job, JobState.SUCCEEDED).summary == f"pull request #{number}: merged"
    assert job.kind == "pr_outcome" and job.usage == {}  # no model, no sandbox
    assert len(engine.sandbox.specs) == 1  # the fix's run only

    assert await gauge(engine) == {"open": 0, "merged": 1, "closed": 0}
    assert sample(engine, "fixwright_pull_request_merge_seconds_count") == 1
    assert sample(engine, "fixwright_pull_request_merge_seconds_sum") >= 3 * 3600 - 60
    [fix_job] = [j for j in await engine.store.list_jobs() if j.kind == "fix"]
    cost = fix_job.usage["cost_usd"]
    assert cost > 0
    assert sample(engine, "fixwright_merged_pull_request_cost_usd_sum") == pytest.approx(cost)

    # GET /v1/stats on the same store, with a key that may read them.
    stats_api: Api = await make_api(store_url=engine_store_url(engine))
    stats_api.clock.now = time.time()
    key = await stats_api.key(("stats:read",))
    response = await stats_api.get(f"/v1/stats?repository={REPOSITORY}&since=7d", key)
    assert response.status_code == 200, response.text
    [row] = response.json()["repositories"]
    assert row["repository"] == REPOSITORY
    assert (row["opened"], row["merged"], row["closed"], row["open"]) == (1, 1, 0, 0)
    assert row["median_seconds_to_merge"] >= 3 * 3600 - 60
    assert row["cost_per_merged_usd"] == pytest.approx(cost, abs=1e-4)
    assert response.json()["totals"]["merged"] == 1
    # The scrape of the same service reads the gauge from the store.
    scraped = await stats_api.client.get("/metrics/prometheus")
    assert 'fixwright_pull_requests{outcome="merged"} 1.0' in scraped.text

    # fixwright stats, on the same store.
    monkeypatch.setenv("FIXWRIGHT_STORE_URL", engine_store_url(engine))
    capsys.readouterr()  # what the service logged so far
    assert await asyncio.to_thread(main, ["stats", "--json", "--since", "30d"]) == 0
    document = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert document["repositories"][0]["merged"] == 1
    assert await asyncio.to_thread(main, ["stats"]) == 0
    table = capsys.readouterr().out
    assert REPOSITORY in table and ("2h 59m" in table or "3h 0m" in table)


async def test_a_pull_request_closed_unmerged_counts_as_closed_and_reopened_as_open(
    engine: Engine,
) -> None:
    number = await fixed_pull(engine)
    state = engine.github.state
    closed = close_pull_request(state, REPOSITORY, number, merged=False, sender="maintainer")
    [job] = await deliver_and_run(engine, "pull_request", closed)
    assert finished(job, JobState.SUCCEEDED).summary == f"pull request #{number}: closed"
    assert await gauge(engine) == {"open": 0, "merged": 0, "closed": 1}
    assert sample(engine, "fixwright_pull_request_merge_seconds_count") == 0
    assert sample(engine, "fixwright_merged_pull_request_cost_usd_count") == 0
    [outcome] = await engine.store.pull_request_outcomes(0)
    assert outcome.state == "closed" and outcome.merged_at is None

    reopened = reopen_pull_request(state, REPOSITORY, number)
    await deliver_and_run(engine, "pull_request", reopened)
    assert await gauge(engine) == {"open": 1, "merged": 0, "closed": 0}
    outcome = await engine.store.pull_request_outcome(REPOSITORY, number)
    assert outcome is not None and outcome.reopened == 1

    # The close delivered again late (its job run after the reopen's): the newer change stands.
    stale = PullRequestChange(REPOSITORY, number, "closed", outcome.opened_at - 1)
    recorded = await engine.store.record_pull_request_change(stale)
    assert recorded.outcome is not None and recorded.outcome.state == "open"
    assert not recorded.merged_now


async def test_pull_requests_by_others_are_never_counted(engine: Engine) -> None:
    """A person's pull request on a branch named like fixwright's runs the cheap outcome job,
    which finds no record of fixwright opening it and counts nothing; one on any other branch
    queues nothing at all."""
    await fixed_pull(engine)
    state = engine.github.state
    state.push_branch(REPOSITORY, OTHER_BRANCH, {"NOTES.md": "mine\n"})
    theirs = state.open_pull_request(REPOSITORY, OTHER_BRANCH, "Looks like fixwright's")
    payload = close_pull_request(state, REPOSITORY, theirs.number, merged=True)
    [job] = await deliver_and_run(engine, "pull_request", payload)
    assert finished(job, JobState.SUCCEEDED).summary == "not a pull request fixwright opened"

    state.push_branch(REPOSITORY, "feature", {"NOTES.md": "other\n"})
    other = state.open_pull_request(REPOSITORY, "feature", "A feature")
    answer = await engine.deliver(
        "pull_request", close_pull_request(state, REPOSITORY, other.number, merged=True)
    )
    assert answer.body.get("status") == "ignored"

    assert await gauge(engine) == {"open": 1, "merged": 0, "closed": 0}
    assert sample(engine, "fixwright_pull_request_merge_seconds_count") == 0
    outcomes = await engine.store.pull_request_outcomes(0)
    assert [item.number for item in outcomes] != [theirs.number]
    assert len(outcomes) == 1


async def test_reviews_and_follow_up_rounds_and_their_cost_are_kept(engine: Engine) -> None:
    """The reviewers' decisions as GitHub lists them at the close, each counted once however
    often the pull request's outcome is recorded."""
    number = await fixed_pull(engine)
    comment = {"path": GREET, "line": 6, "body": "Also handle an empty list."}
    engine.script(ScriptedRun(summary="Added it.", files={GREET: fixed_greet(engine) + "# x\n"}))
    payload = review_of(engine, number, [comment], state="changes_requested")
    [job] = await deliver_and_run(engine, "pull_request_review", payload)
    assert finished(job, JobState.SUCCEEDED).kind == "followup"
    review_of(engine, number, [], state="approved")  # asks nothing: no job, but GitHub keeps it
    merged = close_pull_request(engine.github.state, REPOSITORY, number, merged=True)
    await deliver_and_run(engine, "pull_request", merged)
    await deliver_and_run(engine, "pull_request", merged | {"action": "reopened"})  # again
    outcome = await engine.store.pull_request_outcome(REPOSITORY, number)
    assert outcome is not None
    assert (outcome.approvals, outcome.changes_requested) == (1, 1)
    assert outcome.followup_rounds == 1 and outcome.state == "merged"  # a merge is final
    spent = [j.usage.get("cost_usd", 0) for j in await engine.store.list_jobs()]
    assert outcome.cost_usd == pytest.approx(sum(spent), abs=1e-6) and outcome.cost_usd > 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("since=99999999d", "since"),
        ("repository=not-a-repository", "repository"),
        ("repository=a/b/c&since=7d", "repository"),
        ("limit=3", "limit"),
    ],
)
async def test_a_bad_query_is_400_naming_the_field(
    make_api: Any,  # noqa: F811
    query: str,
    field: str,
) -> None:
    stats_api: Api = await make_api()
    key = await stats_api.key(("stats:read",))
    response = await stats_api.get(f"/v1/stats?{query}", key)
    error = assert_error(response, 400, "invalid_query")
    assert [item["field"] for item in error["details"]] == [field]


async def test_stats_need_their_scope_and_start_empty(
    make_api: Any,  # noqa: F811
) -> None:
    stats_api: Api = await make_api()
    response = await stats_api.get("/v1/stats", await stats_api.key(("audit:read",)))
    assert "stats:read" in assert_error(response, 403, "forbidden")["message"]
    answer = await stats_api.get("/v1/stats", await stats_api.key(("stats:read",)))
    assert answer.status_code == 200
    assert answer.json()["repositories"] == [] and answer.json()["totals"]["opened"] == 0


async def test_a_pull_request_an_api_task_opened_counts_too(
    api: TaskApi,  # noqa: F811
) -> None:
    """A task (and so a schedule) opens its pull request on a branch under the prefix, as the
    App: it is fixwright's as much as a fix's."""
    state = api.engine.github.state
    state.user(state.bot_login)
    body = task(output={"pull_request": True})
    job = finished(await run_task(api, body, GREETING), JobState.SUCCEEDED)
    [pull] = state.pulls.values()
    payload = close_pull_request(state, REPOSITORY, pull.number, merged=True)
    [done] = await deliver_and_run(api.engine, "pull_request", payload)
    assert finished(done, JobState.SUCCEEDED).summary == f"pull request #{pull.number}: merged"
    [outcome] = await api.engine.store.pull_request_outcomes(0)
    assert outcome.job_id == job.id and outcome.state == "merged"
