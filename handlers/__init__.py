"""What each GitHub event or command means: every job kind's declaration, composed.

Adding a kind is one package under handlers/ that declares its `KIND`, and one line below.
"""

from __future__ import annotations

from app.routing import Registry
from handlers import (
    approval,
    ask,
    cancel,
    findings,
    fix,
    followup,
    help,
    interrupted,
    lifecycle,
    outcomes,
    review,
    schedule_sync,
    task,
)


def build_registry() -> Registry:
    """The service's registry: every kind (in the order `/help` lists them) and cancellation."""
    return Registry(
        kinds=(
            fix.KIND,
            followup.KIND,
            review.KIND,
            ask.KIND,
            task.KIND,
            task.SCHEDULED_KIND,
            cancel.KIND,
            approval.KIND,
            help.KIND,
            interrupted.KIND,
            outcomes.KIND,
            findings.KIND,
            schedule_sync.KIND,
        ),
        cancellations=lifecycle.CANCELLATIONS,
        interruption_notice=interrupted.KIND,
        approval_notice=approval.KIND,
        api_task=task.KIND,
        scheduled_task=task.SCHEDULED_KIND,
    )
