"""Structured logs: one line per delivery and per job, JSON off a terminal, secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import FilteringBoundLogger

from app import task_secrets
from sandbox.redaction import redact_value


class Redactor:
    """A structlog processor that redacts secrets from every field of every line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        del logger, method
        # A task's credentials are secrets too while this process holds them.
        held = task_secrets.live_values()
        secrets = (
            tuple(sorted({*self.secrets, *held}, key=len, reverse=True)) if held else self.secrets
        )
        return {key: redact_value(value, secrets) for key, value in event_dict.items()}


def json_line(event_dict: Any, default: Callable[[Any], Any]) -> str:
    """orjson, several times faster than `json` on every line; `json` for what orjson refuses
    (integers past 64 bits, keys that are not strings)."""
    try:
        return orjson.dumps(event_dict, default=default).decode()
    except TypeError:
        return json.dumps(event_dict, default=default)


class CurrentStream:
    """sys.stdout or sys.stderr as they are when a line is written (they may be replaced)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return int(getattr(sys, self.name).write(text))

    def flush(self) -> None:
        getattr(sys, self.name).flush()

    def isatty(self) -> bool:
        return bool(getattr(sys, self.name).isatty())


def configure_logging(
    *,
    log_format: str = "auto",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    to_stderr: bool = False,
) -> None:
    """Set up structlog once, at start: JSON unless a terminal (or the setting) asks for colour."""
    # Without a stream, each line goes to the sys.stdout (or stderr) of the moment it is written.
    out: Any = stream or CurrentStream("stderr" if to_stderr else "stdout")
    factory = structlog.PrintLoggerFactory(out)
    as_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(json_line)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


def redact_also(values: Iterable[str]) -> None:
    """Secrets learned after start (the credentials set-up stores) are redacted from now on too."""
    for processor in structlog.get_config()["processors"]:
        if isinstance(processor, Redactor):
            known = {*processor.secrets, *(value for value in values if value)}
            processor.secrets = tuple(sorted(known, key=len, reverse=True))


def get_logger(**bound: Any) -> FilteringBoundLogger:
    """The service's logger with `bound` fields (the wrapper class `configure_logging` sets)."""
    logger: FilteringBoundLogger = structlog.get_logger("fixwright")
    return logger.bind(**bound)
