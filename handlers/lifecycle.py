"""The App's own lifecycle: uninstalled, suspended, or removed from repositories → their jobs stop.

GitHub sends `installation` and `installation_repositories` to every App whether it subscribes or
not, so they are not in manifest.yml's `default_events`. Cancelling is a store update made with
the delivery's record, so it takes effect even when no worker is free; running jobs notice at
their next heartbeat and their containers are removed.
"""

from __future__ import annotations

from app.config import Settings
from app.events import WebhookEvent
from app.routing import Cancellation
from app.store import CancelScope

# Events GitHub delivers to every App without a subscription.
ALWAYS_DELIVERED = frozenset({"installation", "installation_repositories"})


def stop_all_jobs_of_installation(event: WebhookEvent, settings: Settings) -> CancelScope | None:
    """Uninstalled or suspended: nothing may run for it any more."""
    del settings
    if event.installation_id is None:
        return None
    verb = "uninstalled" if event.action == "deleted" else "suspended"
    return CancelScope(
        event.installation_id, None, f"cancelled: the App was {verb}", actor=event.sender_login
    )


def stop_jobs_of_removed_repositories(
    event: WebhookEvent, settings: Settings
) -> CancelScope | None:
    """Repositories taken away from the installation: their jobs stop."""
    del settings
    removed = event.payload.get("repositories_removed") or []
    names = tuple(
        str(repo.get("full_name"))
        for repo in removed
        if isinstance(repo, dict) and repo.get("full_name")
    )
    if event.installation_id is None or not names:
        return None
    return CancelScope(
        event.installation_id,
        names,
        "cancelled: the App was removed from the repository",
        actor=event.sender_login,
    )


CANCELLATIONS = (
    Cancellation("installation", ("deleted", "suspend"), stop_all_jobs_of_installation),
    Cancellation("installation_repositories", ("removed",), stop_jobs_of_removed_repositories),
)
