"""What each GitHub event or command means: the routers of every job kind, composed."""

from __future__ import annotations

from app.routing import Router
from handlers import cancel, fix, help_reply, interrupted, lifecycle, review


def build_router() -> Router:
    """The service's routing table: every module's triggers and job handlers."""
    return Router().include(
        fix.router,
        review.router,
        help_reply.router,
        cancel.router,
        lifecycle.router,
        interrupted.router,
    )
