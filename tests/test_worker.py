"""The worker in process: what becomes of a job whose handler fails, whose kind is gone, that is
cancelled while it runs, and whose repository configures it.

Kinds of the test's own (`throwaway_kind`) reach the worker through a registry of the test's own;
the service's kinds run on the scripted sandbox (`tests/fakes/sandbox.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from app.config import Settings
from app.context import Context
from app.events import WebhookEvent
from app.failure import FAILURE_MARKER
from app.kinds import CONFIGURED_ROLE, JobKind, Trigger, Words
from app.routing import Registry
from app.store import JobState, NewJob
from handlers import build_registry
from handlers.common.commands import command_of, job_for
from tests.corpus import comment_on
from tests.fakes.github.fixtures import INSTALLATION_ID, REPOSITORY, FakeGitHub
from tests.fakes.sandbox import ScriptedRun
from tests.fixtures.inprocess import Engine, EngineFactory, ended, finished
from tests.test_fix_handler import the_fix
from tests.test_fix_loop import BRANCH, label_delivery

Handler = Callable[[WebhookEvent, Context], Awaitable[str]]


def throwaway_kind(name: str, handler: Handler, **changes: object) -> JobKind:
    """A kind asked for with `/<name>` on an issue by someone with write access."""

    def plan(event: WebhookEvent, settings: Settings) -> NewJob | None:
        del settings
        command = command_of(event)
        return job_for(event, name) if command and command.name == name else None

    kind = JobKind(
        name=name,
        handler=handler,
        triggers=(Trigger("issue_comment", "created", plan),),
        permissions={"issues": "write", "metadata": "read"},
        least_role=CONFIGURED_ROLE,
        refusal=f"answers /{name}",
        metered=False,
        help=(),
        words=Words(name, f"/{name}", "the issue", "Ask for less.", ""),
    )
    return replace(kind, **changes)


def command(body: str, number: int = 1) -> dict[str, object]:
    return comment_on(REPOSITORY, INSTALLATION_ID, number, body)


def failure_comments(fake_github: FakeGitHub, number: int = 1) -> list[str]:
    return [
        c.body
        for c in fake_github.state.issue_comments(REPOSITORY, number)
        if c.body.startswith(FAILURE_MARKER)
    ]


async def explode(event: WebhookEvent, context: Context) -> str:
    raise KeyError("a bug in the handler")


async def test_a_handler_that_raises_fails_its_job_with_the_job_id_and_the_retry_hint(
    make_engine: EngineFactory,
) -> None:
    """An unexpected exception ends the job failed, never the worker; the thread gets the id to look up and how to retry."""
    boom = throwaway_kind("boom", explode)
    engine = await make_engine(registry=Registry([*build_registry().kinds.values(), boom]))
    job = finished(await engine.run_delivery("issue_comment", command("/boom")), JobState.FAILED)

    assert job.summary == "an internal error (KeyError) stopped it"
    [body] = failure_comments(engine.github)
    assert "could not finish this boom job" in body
    assert "an internal error (KeyError) stopped it" in body
    assert f"the service log under job id `{job.id}`" in body
    assert "Comment `/boom` to try again." in body
    assert "a bug in the handler" not in body  # the exception's text stays in the log

    # The worker carries on: the next job runs.
    again = await engine.run_delivery("issue_comment", command("/help"))
    assert finished(again, JobState.SUCCEEDED).kind == "help"


async def test_a_github_api_error_is_told_in_words(make_engine: EngineFactory) -> None:
    """GitHub refusing a handler's call fails the job with the status, method and path, and the kind's retry hint."""

    async def read_missing_issue(event: WebhookEvent, context: Context) -> str:
        owner, name = context.owner_and_name
        await context.github.rest.issues.async_get(owner, name, 404_404)
        return "read it"

    engine = await make_engine(registry=Registry([throwaway_kind("peek", read_missing_issue)]))
    job = finished(await engine.run_delivery("issue_comment", command("/peek")), JobState.FAILED)

    path = f"/repos/{REPOSITORY}/issues/404404"
    assert job.summary == f"GitHub's API answered 404 to GET {path}: a GitHub API error."
    [body] = failure_comments(engine.github)
    assert f"answered 404 to GET {path}" in body
    assert (
        "If GitHub is having an incident, wait for it to pass. Comment `/peek` to try again."
        in (body)
    )


async def test_a_job_of_a_kind_no_longer_registered_fails_saying_so(
    make_engine: EngineFactory,
) -> None:
    """A job queued before a restart whose registry lacks its kind fails with the kind named, and runs nothing."""

    async def answer(event: WebhookEvent, context: Context) -> str:
        return "answered"

    echo = throwaway_kind("echo", answer)
    engine = await make_engine(registry=Registry([*build_registry().kinds.values(), echo]))
    queued = await engine.deliver("issue_comment", command("/echo"))
    assert queued.body["status"] == "queued"

    engine = await make_engine(restarting=engine)
    [job] = await engine.run_all()

    finished(job, JobState.FAILED)
    assert (job.id, job.summary) == (queued.body["jobs"][0], "no handler for job kind 'echo'")
    assert engine.github.state.comments == {}


async def test_a_job_cancelled_in_the_store_stops_at_the_next_heartbeat(
    make_engine: EngineFactory,
) -> None:
    """The run never ends by itself; the cancel recorded in the store stops it, and nothing is pushed."""
    engine = await make_engine(job_lease_seconds=3)
    never = asyncio.Event()
    engine.script(the_fix(engine, hold=never))
    [job_id] = (await engine.deliver("issues", label_delivery(engine.github))).body["jobs"]
    task = await engine.start_next()

    assert await engine.store.cancel(job_id, "cancelled by the test")
    job = finished(await ended(task), JobState.CANCELLED)

    assert job.id == job_id and not never.is_set()
    assert BRANCH not in engine.github.state.branches(REPOSITORY)
    assert engine.github.state.pulls == {}
    assert list((engine.home / "state" / "workspaces").iterdir()) == []


async def test_the_repositorys_file_narrows_only_jobs_that_read_code(engine: Engine) -> None:
    """`.github/fixwright.yml` sets the fix's model and turns; `/help`, which reads no code, ignores even a broken file."""
    state = engine.github.state
    config = ".github/fixwright.yml"
    state.push_branch(REPOSITORY, "main", {config: "model: claude-haiku-4-5\nmax_turns: 1\n"})
    engine.script(ScriptedRun(summary="Nothing to change."))
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), JobState.SUCCEEDED)
    [spec] = engine.sandbox.specs
    assert (spec.model, spec.max_turns) == ("claude-haiku-4-5", 1)

    state.push_branch(REPOSITORY, "main", {config: "max_turns: many\n"})
    finished(await engine.run_delivery("issue_comment", command("/help")), JobState.SUCCEEDED)
    assert not any("is not valid" in c.body for c in state.issue_comments(REPOSITORY, 1))


async def test_an_invalid_repository_file_stops_the_job_and_says_what_is_wrong(
    engine: Engine,
) -> None:
    """Fail closed: the maintainer meant to restrict something, so nothing runs; the thread names the problem."""
    engine.github.state.push_branch(
        REPOSITORY, "main", {".github/fixwright.yml": "max_turns: many\n"}, "Configure"
    )
    job = finished(
        await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED
    )

    assert job.summary.startswith("`.github/fixwright.yml` is not valid")
    [comment] = engine.github.state.issue_comments(REPOSITORY, 1)
    assert "`.github/fixwright.yml` is not valid" in comment.body
    assert "`max_turns` must be a whole number" in comment.body
    assert engine.sandbox.specs == []


async def test_an_invalid_protected_path_is_reported_in_the_thread(engine: Engine) -> None:
    """A bad `protected_paths` entry stops the job like any other bad key, and the thread names it."""
    engine.github.state.push_branch(
        REPOSITORY,
        "main",
        {".github/fixwright.yml": "protected_paths:\n  - 'deploy/[abc].sh'\n"},
        "Configure",
    )
    finished(await engine.run_delivery("issues", label_delivery(engine.github)), JobState.FAILED)

    [comment] = engine.github.state.issue_comments(REPOSITORY, 1)
    assert "`.github/fixwright.yml` is not valid" in comment.body
    assert "`protected_paths` entry 'deploy/[abc].sh' uses `[]`" in comment.body
    assert engine.sandbox.specs == []
