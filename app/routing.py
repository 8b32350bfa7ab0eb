"""Routing as data: which deliveries become which jobs, and which handler runs each job kind."""

from __future__ import annotations

import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from githubkit_schemas.latest.webhooks import EventNameType

from app.config import Settings
from app.events import WebhookEvent
from app.store import CancelScope, NewJob

if TYPE_CHECKING:
    from app.context import Context

KNOWN_EVENTS = frozenset(typing.get_args(EventNameType))

# Decides at intake, from the delivery alone, whether to queue a job: pure, no I/O.
Planner = Callable[[WebhookEvent, Settings], NewJob | None]
# Decides at intake which queued and running jobs a delivery cancels (an uninstalled App).
Canceller = Callable[[WebhookEvent, Settings], CancelScope | None]
# Does the job's work in a worker; returns the one-line summary stored with the job.
JobHandler = Callable[[WebhookEvent, "Context"], Awaitable[str]]


class RoutingError(Exception):
    """A router was declared wrongly (unknown event name, job kind registered twice)."""


@dataclass(frozen=True)
class Trigger:
    event: str
    action: str | None
    planner: Planner


@dataclass(frozen=True)
class Cancellation:
    event: str
    action: str | None
    canceller: Canceller


@dataclass(frozen=True)
class JobKind:
    """A kind of job, its handler, and the installation-token permissions it needs."""

    name: str
    handler: JobHandler
    permissions: Mapping[str, str]


@dataclass
class Router:
    """Triggers by (event, action) and handlers by job kind; modules each declare one."""

    triggers: list[Trigger] = field(default_factory=list)
    kinds: dict[str, JobKind] = field(default_factory=dict)
    cancellations: list[Cancellation] = field(default_factory=list)

    def trigger(self, event: str, *actions: str) -> Callable[[Planner], Planner]:
        """Register a planner for an event and (optionally) some of its actions."""
        if event not in KNOWN_EVENTS:
            raise RoutingError(f"unknown webhook event {event!r}")

        def register(planner: Planner) -> Planner:
            for action in actions or (None,):
                self.triggers.append(Trigger(event, action, planner))
            return planner

        return register

    def cancels(self, event: str, *actions: str) -> Callable[[Canceller], Canceller]:
        """Register what an event cancels, applied at intake with the delivery's record."""
        if event not in KNOWN_EVENTS:
            raise RoutingError(f"unknown webhook event {event!r}")

        def register(canceller: Canceller) -> Canceller:
            for action in actions or (None,):
                self.cancellations.append(Cancellation(event, action, canceller))
            return canceller

        return register

    def job(
        self, kind: str, *, permissions: Mapping[str, str]
    ) -> Callable[[JobHandler], JobHandler]:
        """Register the handler that runs jobs of a kind."""

        def register(handler: JobHandler) -> JobHandler:
            if kind in self.kinds:
                raise RoutingError(f"job kind {kind!r} is registered twice")
            self.kinds[kind] = JobKind(kind, handler, dict(permissions))
            return handler

        return register

    def include(self, *others: Router) -> Router:
        """Compose other modules' routers into this one."""
        for other in others:
            self.triggers.extend(other.triggers)
            self.cancellations.extend(other.cancellations)
            for kind in other.kinds.values():
                if kind.name in self.kinds:
                    raise RoutingError(f"job kind {kind.name!r} is registered twice")
                self.kinds[kind.name] = kind
        return self

    def events(self) -> set[str]:
        """The webhook events some trigger listens to (what the App must subscribe to)."""
        return {trigger.event for trigger in self.triggers} | {
            cancellation.event for cancellation in self.cancellations
        }

    def plan(self, event: WebhookEvent, settings: Settings) -> list[NewJob]:
        """The jobs a delivery asks for; empty when nothing wants it."""
        jobs = []
        for trigger in self.triggers:
            if trigger.event != event.name or trigger.action not in (None, event.action):
                continue
            job = trigger.planner(event, settings)
            if job is not None:
                jobs.append(job)
        return jobs

    def cancel_scopes(self, event: WebhookEvent, settings: Settings) -> list[CancelScope]:
        """What a delivery cancels; empty for most."""
        scopes = []
        for cancellation in self.cancellations:
            if cancellation.event != event.name or cancellation.action not in (None, event.action):
                continue
            scope = cancellation.canceller(event, settings)
            if scope is not None:
                scopes.append(scope)
        return scopes
