"""A verified webhook delivery, read tolerantly: the fields routing and handlers need, never a crash."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from githubkit_schemas.latest.webhooks import WebhookEvent as TypedPayload

# GitHub's ids and numbers are positive, and the store keeps them in SQLite's 64-bit INTEGER.
LARGEST_ID = 2**63 - 1


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 < value <= LARGEST_ID


def _is_text(value: Any) -> bool:
    return type(value) is str


def _is_array(value: Any) -> bool:
    return type(value) is list


Rule = tuple[Callable[[Any], bool], str]
ID: Rule = (_is_id, f"a whole number from 1 to {LARGEST_ID}")
TEXT: Rule = (_is_text, "a string")
ARRAY: Rule = (_is_array, "an array")

# The fields that the intake, routing, the planners and the store read, and what each must be
# when present: a signed body that breaks one is refused, never a crash. Null counts as absent
# (older GitHub Enterprise Server payloads leave fields out), and so does an absent parent.
# Checked on every delivery, so laid out for speed: top-level fields, then by parent object.
TOP_FIELDS: tuple[tuple[str, Rule], ...] = (
    ("action", TEXT),
    ("number", ID),
    ("repositories_removed", ARRAY),
)
NESTED_FIELDS: Mapping[str, tuple[tuple[str, Rule], ...]] = {
    "installation": (("id", ID),),
    "repository": (("full_name", TEXT),),
    "sender": (("login", TEXT), ("type", TEXT)),
    "issue": (("number", ID), ("updated_at", TEXT)),
    "pull_request": (("number", ID),),
    "label": (("name", TEXT),),
    "comment": (("id", ID), ("body", TEXT), ("created_at", TEXT)),
    "review": (("id", ID), ("body", TEXT), ("state", TEXT), ("submitted_at", TEXT)),
}


def dig(data: Any, *path: str) -> Any:
    """Walk nested mappings; None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_timestamp(text: str) -> datetime | None:
    """GitHub's ISO 8601 time (a zone-less one read as UTC), or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def trigger_time_text(payload: Mapping[str, Any]) -> str:
    """GitHub's timestamp of a trigger: the comment's creation, the review's submission, or the
    label's (the issue's update)."""
    return str(
        dig(payload, "comment", "created_at")
        or dig(payload, "review", "submitted_at")
        or dig(payload, "issue", "updated_at")
        or ""
    )


# Fields the store keeps in columns of their own: PostgreSQL's text holds no NUL character
# (SQLite's does), so a delivery carrying one is refused on both engines alike.
STORED_FIELDS = (("action",), ("repository", "full_name"), ("sender", "login"))


def payload_problem(payload: Mapping[str, Any]) -> str | None:
    """What is wrong with the first field the service reads that is present but unusable, or None."""
    for key, (fits, expected) in TOP_FIELDS:
        value = payload.get(key)
        if value is not None and not fits(value):
            return f"{key} must be {expected}, got {described(value)}"
    for parent_key, fields in NESTED_FIELDS.items():
        parent = payload.get(parent_key)
        if parent is None:
            continue
        if not isinstance(parent, dict):
            return f"{parent_key} must be an object, got {described(parent)}"
        for key, (fits, expected) in fields:
            value = parent.get(key)
            if value is not None and not fits(value):
                return f"{parent_key}.{key} must be {expected}, got {described(value)}"
    for path in STORED_FIELDS:
        if "\x00" in _text(dig(payload, *path)):
            return f"{'.'.join(path)} must not contain a NUL character"
    return None


def described(value: Any) -> str:
    """A short account of a value for an error message: never the whole of a long one."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= 24 else f"a number of {digits} digits"
    if isinstance(value, str):
        return (
            f"the string {value!r}" if len(value) <= 40 else f"a string of {len(value)} characters"
        )
    if isinstance(value, float):  # orjson reads integers past 64 bits as floats too
        return f"the number {value!r}"
    containers: dict[type[object], str] = {list: "an array", dict: "an object"}
    return containers.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class WebhookEvent:
    """One delivery: its name, action, id and payload, with tolerant accessors.

    githubkit's models reject many real payloads (older GitHub Enterprise Server versions
    leave out fields the models require), so nothing here depends on them validating.
    """

    name: str
    delivery_id: str
    payload: Mapping[str, Any]

    @property
    def action(self) -> str:
        return _text(self.payload.get("action"))

    @property
    def installation_id(self) -> int | None:
        return _int(dig(self.payload, "installation", "id"))

    @property
    def repository(self) -> str:
        """The repository's full name (owner/name), or "" when the event has none."""
        return _text(dig(self.payload, "repository", "full_name"))

    @property
    def sender_login(self) -> str:
        return _text(dig(self.payload, "sender", "login"))

    @property
    def sender_is_bot(self) -> bool:
        return dig(self.payload, "sender", "type") == "Bot" or self.sender_login.endswith("[bot]")

    @property
    def issue_number(self) -> int | None:
        """The issue's or pull request's number, for events about one."""
        for key in ("issue", "pull_request"):
            number = _int(dig(self.payload, key, "number"))
            if number is not None:
                return number
        return _int(self.payload.get("number"))

    @property
    def is_pull_request(self) -> bool:
        return (
            "pull_request" in self.payload or dig(self.payload, "issue", "pull_request") is not None
        )

    @property
    def label_name(self) -> str:
        return _text(dig(self.payload, "label", "name"))

    @property
    def comment_body(self) -> str:
        return _text(dig(self.payload, "comment", "body"))

    @property
    def comment_id(self) -> int | None:
        return _int(dig(self.payload, "comment", "id"))

    @property
    def summary(self) -> dict[str, Any]:
        """The ids that every log line about this delivery carries."""
        return {
            "delivery_id": self.delivery_id,
            "event": self.name,
            "action": self.action or None,
            "installation_id": self.installation_id,
            "repo": self.repository or None,
        }

    def typed(self) -> TypedPayload | None:
        """githubkit's typed model of the payload, or None when the model rejects it."""
        from githubkit.webhooks import parse_obj

        try:
            return parse_obj(self.name, self.payload)
        except (ValidationError, ValueError, KeyError, TypeError):
            return None
