"""API keys: who may call the task API. Only the SHA-256 of each key's secret is kept; a key is
revoked, never deleted, so the audit trail's mentions of it stay meaningful."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store.dialect import Db


@dataclass(frozen=True)
class ApiKeyRecord:
    """A key as stored: its public id, its name, the SHA-256 of its secret, its scopes, and its
    own rate limits (None: the service's)."""

    id: str
    name: str
    secret_sha256: bytes
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    per_minute: int | None = None
    per_hour: int | None = None


API_KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    per_minute INTEGER,
    per_hour INTEGER
);
"""
COLUMNS = (
    "id, name, secret_sha256, scopes, created_at, expires_at, revoked_at, per_minute, per_hour"
)
# Scopes are stored as one space-separated string (a scope never contains a space).
SEPARATOR = " "


def key_of(row: tuple[Any, ...]) -> ApiKeyRecord:
    key_id, name, secret, scopes, created_at, expires_at, revoked_at, per_minute, per_hour = row
    return ApiKeyRecord(
        id=key_id,
        name=name,
        secret_sha256=bytes(secret),
        scopes=tuple(scopes.split()),
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
        per_minute=per_minute,
        per_hour=per_hour,
    )


def insert_key(db: Db, key: ApiKeyRecord) -> None:
    db.execute(
        f"INSERT INTO api_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            key.id,
            key.name,
            key.secret_sha256,
            SEPARATOR.join(key.scopes),
            key.created_at,
            key.expires_at,
            key.revoked_at,
            key.per_minute,
            key.per_hour,
        ),
    )


def select_key(db: Db, key_id: str) -> ApiKeyRecord | None:
    row = db.execute(
        f"SELECT {COLUMNS} FROM api_keys WHERE id = ?",  # noqa: S608 (constant columns)
        (key_id,),
    ).fetchone()
    return key_of(row) if row else None


def select_keys(db: Db) -> list[ApiKeyRecord]:
    """Every key, oldest first."""
    rows = db.execute(
        f"SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"  # noqa: S608 (constant)
    ).fetchall()
    return [key_of(row) for row in rows]


def revoke_key(db: Db, key_id: str, now: float) -> bool:
    """Revoke a key not revoked yet; False for an unknown or already revoked one."""
    return bool(
        db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, key_id),
        ).rowcount
    )
