"""The service's error tree and the one JSON shape every rejected request gets."""

from __future__ import annotations

from starlette.responses import JSONResponse


class FixwrightError(Exception):
    """Base of every error the service raises on purpose."""


class RequestRejected(FixwrightError):
    """A request we refuse: carries the HTTP status, a stable code and a reason for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class JobFailed(FixwrightError):
    """A job could not finish; `reason` is said on the GitHub thread, `next_step` tells how to recover.

    `reported` is set when the handler already told the thread (in its progress comment), so the
    worker does not post the failure a second time.
    """

    def __init__(self, reason: str, next_step: str = "", *, reported: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.next_step = next_step
        self.reported = reported


class JobRefused(FixwrightError):
    """A job that must not run (the actor lacks permission); the handler has already said why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one shape of every refusal: {"error": {"code": ..., "message": ...}}."""
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """error_body with the given status, for the Starlette routes."""
    return JSONResponse(error_body(code, message), status_code=status)
