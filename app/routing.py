"""Routing as data: the registry of job kinds, which deliveries become which jobs, and what a
delivery cancels."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from githubkit_schemas.latest.webhooks import EventNameType

from app.config import Settings
from app.events import WebhookEvent
from app.kinds import JobKind
from app.store import CancelScope, NewJob

KNOWN_EVENTS = frozenset(typing.get_args(EventNameType))

# Decides at intake which queued and running jobs a delivery cancels (an uninstalled App).
Canceller = Callable[[WebhookEvent, Settings], CancelScope | None]


class RoutingError(Exception):
    """The registry was declared wrongly (an unknown event, a kind twice, an incomplete kind)."""


@dataclass(frozen=True)
class Cancellation:
    """A delivery that cancels jobs at intake: its event, its actions (none: any), the canceller."""

    event: str
    actions: tuple[str, ...]
    canceller: Canceller


def _matches(event: str, actions: Iterable[str | None], delivered: WebhookEvent) -> bool:
    wanted = tuple(actions)
    return event == delivered.name and (not wanted or None in wanted or delivered.action in wanted)


class Registry:
    """Every job kind by name, and every cancellation; checked once, when it is built."""

    def __init__(
        self,
        kinds: Iterable[JobKind],
        cancellations: Iterable[Cancellation] = (),
        interruption_notice: JobKind | None = None,
        approval_notice: JobKind | None = None,
        api_task: JobKind | None = None,
        scheduled_task: JobKind | None = None,
    ) -> None:
        by_name: dict[str, JobKind] = {}
        for kind in kinds:
            if kind.name in by_name:
                raise RoutingError(f"job kind {kind.name!r} is registered twice")
            problems = kind.problems()
            if problems:
                raise RoutingError("; ".join(problems))
            by_name[kind.name] = kind
        self.kinds: Mapping[str, JobKind] = MappingProxyType(by_name)
        self.cancellations = tuple(cancellations)
        if interruption_notice is not None and by_name.get(interruption_notice.name) is not (
            interruption_notice
        ):
            raise RoutingError(f"the interruption notice {interruption_notice.name!r} is no kind")
        # The kind the store queues to tell a thread its job was interrupted too often.
        self.interruption_notice = interruption_notice
        if approval_notice is not None and by_name.get(approval_notice.name) is not approval_notice:
            raise RoutingError(f"the approval notice {approval_notice.name!r} is no kind")
        # The kind the store queues to tell a thread its request for approval expired.
        self.approval_notice = approval_notice
        if api_task is not None and by_name.get(api_task.name) is not api_task:
            raise RoutingError(f"the API's task kind {api_task.name!r} is no kind")
        # The kind `POST /v1/tasks` queues (None: this service takes no tasks).
        self.api_task = api_task
        if scheduled_task is not None and by_name.get(scheduled_task.name) is not scheduled_task:
            raise RoutingError(f"the schedules' task kind {scheduled_task.name!r} is no kind")
        # The kind a schedule's slot queues (None: this service runs no schedules).
        self.scheduled_task = scheduled_task
        unknown = self.events() - KNOWN_EVENTS
        if unknown:
            raise RoutingError(f"unknown webhook event(s): {', '.join(sorted(unknown))}")

    def kind(self, name: str) -> JobKind | None:
        return self.kinds.get(name)

    def events(self) -> set[str]:
        """The webhook events something listens to (what the App must subscribe to)."""
        triggers = {trigger.event for kind in self.kinds.values() for trigger in kind.triggers}
        return triggers | {cancellation.event for cancellation in self.cancellations}

    def metered(self) -> frozenset[str]:
        """The kinds held to the quotas (they run Claude Code, so they spend)."""
        return frozenset(name for name, kind in self.kinds.items() if kind.metered)

    def plan(self, event: WebhookEvent, settings: Settings) -> list[NewJob]:
        """The jobs a delivery asks for; empty when nothing wants it."""
        jobs = []
        for kind in self.kinds.values():
            for trigger in kind.triggers:
                if not _matches(trigger.event, (trigger.action,), event):
                    continue
                job = trigger.planner(event, settings)
                if job is not None:
                    jobs.append(job)
        return jobs

    def cancel_scopes(self, event: WebhookEvent, settings: Settings) -> list[CancelScope]:
        """What a delivery cancels; empty for most."""
        scopes = []
        for cancellation in self.cancellations:
            if not _matches(cancellation.event, cancellation.actions, event):
                continue
            scope = cancellation.canceller(event, settings)
            if scope is not None:
                scopes.append(scope)
        return scopes
