"""A verified webhook delivery, read tolerantly: the fields routing and handlers need, never a crash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


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

    def typed(self) -> Any | None:
        """githubkit's typed model of the payload, or None when the model rejects it."""
        from githubkit.webhooks import parse_obj

        try:
            return parse_obj(self.name, self.payload)
        except (ValidationError, ValueError, KeyError, TypeError):
            return None
