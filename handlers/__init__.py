"""What each GitHub event or command means: the routers of every job kind, composed."""

from __future__ import annotations

from app.routing import Router
from handlers import lifecycle
from handlers.cancel import stop as cancel
from handlers.fix import handler as fix
from handlers.help import reply as help_reply
from handlers.interrupted import notice as interrupted
from handlers.review import handler as review


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
