"""The App's credentials and the model key, kept in the data directory encrypted at rest (Fernet).

Set-up by manifest (app/setup_flow.py) and `POST /setup/model-key` write here; `app.config`
reads these values only where the environment leaves a setting empty. The key comes from
`FIXWRIGHT_SECRETS_KEY`, or from a file beside the data generated on first need (with a warning
to back it up: without it the stored values are lost). Both files are written atomically with
mode 0600 and never read through a symbolic link.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from app.log import get_logger

STORE_FILE = "secrets.enc"
KEY_FILE = "secrets.key"
# Far more than a PEM key and a few tokens; a larger file is not ours.
MAX_FILE_BYTES = 256 * 1024
FORMAT_VERSION = 1
# What may be stored, by the FIXWRIGHT_ variable each fills when the environment leaves it empty
# (client id and secret fill none: kept for the App's owner, never used by the service).
STORED_NAMES = (
    "APP_ID",
    "APP_SLUG",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "WEBHOOK_SECRET",
    "PRIVATE_KEY",
    "ANTHROPIC_API_KEY",
)
# Values no status, log or page ever shows.
SECRET_NAMES = frozenset({"CLIENT_SECRET", "WEBHOOK_SECRET", "PRIVATE_KEY", "ANTHROPIC_API_KEY"})
# Not a secret, stored alongside: `fixwright setup reopen` sets it, a completed set-up clears it.
REOPENED = "SETUP_REOPENED"


class SecretsError(Exception):
    """The stored secrets cannot be read or written; the message names the file and the fix."""


def store_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / STORE_FILE


def key_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / KEY_FILE


def read_private_file(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist; never through a link, never a huge one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        if path.is_symlink():
            raise SecretsError(
                f"{path} is a symbolic link: secrets are never read through one; replace it "
                "with the file itself"
            ) from None
        raise SecretsError(f"{path} cannot be read ({error.strerror})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretsError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise SecretsError(f"{path} is larger than {MAX_FILE_BYTES} bytes: it is not ours")
        return file.read(MAX_FILE_BYTES + 1)


def write_private_file(path: Path, content: bytes) -> None:
    """Replace `path` atomically with `content`, readable by this user only (0600).

    The new file is made beside it (O_EXCL, never following a link) and renamed over it, so a
    reader sees the old or the new content, and a link planted at `path` is replaced, not followed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _fernet(key: bytes | str, where: str) -> Fernet:
    try:
        return Fernet(key.strip() if isinstance(key, bytes) else key.strip().encode())
    except (ValueError, TypeError):
        raise SecretsError(
            f"{where} is not a secrets key (32 url-safe base64-encoded bytes, as "
            "`fixwright secrets rotate-key` prints)"
        ) from None


def new_key() -> bytes:
    return Fernet.generate_key()


def load_key(state_dir: str | Path, configured: str = "", *, create: bool) -> Fernet | None:
    """The key: `FIXWRIGHT_SECRETS_KEY` when set, else the key file beside the data; made there
    (with a warning to back it up) when `create` and missing, else None."""
    if configured:
        return _fernet(configured, "FIXWRIGHT_SECRETS_KEY")
    path = key_path(state_dir)
    found = read_private_file(path)
    if found is not None:
        return _fernet(found, str(path))
    if not create:
        return None
    key = new_key()
    write_private_file(path, key + b"\n")
    get_logger().warning(
        "secrets.key_generated",
        path=str(path),
        remedy="back this file up (or move its value to FIXWRIGHT_SECRETS_KEY): without it the "
        "App's stored credentials and the model key cannot be read",
    )
    return _fernet(key, str(path))


class SecretsStore:
    """The encrypted file of stored values in one data directory."""

    def __init__(self, state_dir: str | Path, configured_key: str = "") -> None:
        self.state_dir = Path(state_dir)
        self.path = store_path(state_dir)
        self._configured_key = configured_key

    def exists(self) -> bool:
        return self.path.exists() or self.path.is_symlink()

    def read(self) -> dict[str, str]:
        """The stored values ({} when nothing is stored); SecretsError when they cannot be read."""
        content = read_private_file(self.path)
        if content is None:
            return {}
        fernet = load_key(self.state_dir, self._configured_key, create=False)
        if fernet is None:
            raise SecretsError(
                f"{self.path} holds stored secrets but no key is set: set FIXWRIGHT_SECRETS_KEY "
                f"to the key you backed up, or restore {key_path(self.state_dir)}"
            )
        return decrypt(fernet, content, self.path)

    def write(self, values: Mapping[str, str]) -> None:
        """Replace what is stored with `values` (empty values are dropped)."""
        fernet = load_key(self.state_dir, self._configured_key, create=True)
        assert fernet is not None
        write_private_file(self.path, encrypt(fernet, values))

    def update(self, values: Mapping[str, str]) -> None:
        """Store `values` beside what is stored (an empty value removes its name)."""
        merged = {**self.read(), **values}
        self.write({name: value for name, value in merged.items() if value})


def encrypt(fernet: Fernet, values: Mapping[str, str]) -> bytes:
    document = {"version": FORMAT_VERSION, "values": {k: v for k, v in values.items() if v}}
    return fernet.encrypt(json.dumps(document).encode())


def decrypt(fernet: Fernet, content: bytes, path: Path) -> dict[str, str]:
    try:
        document = json.loads(fernet.decrypt(content.strip()))
    except InvalidToken:
        raise SecretsError(
            f"{path} cannot be decrypted with the configured key: set FIXWRIGHT_SECRETS_KEY "
            "to the key it was written with (or restore the key file you backed up)"
        ) from None
    except ValueError:
        raise SecretsError(f"{path} is not a secrets file this version reads") from None
    values = document.get("values") if isinstance(document, dict) else None
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise SecretsError(f"{path} is not a secrets file this version reads")
    return dict(values)


def rotate_key(
    state_dir: str | Path, configured_key: str = "", new_key_file: Path | None = None
) -> Path:
    """Re-encrypt what is stored with a new key and return where the new key is.

    The new key goes to `new_key_file` when given (the key file beside the data is then removed),
    else replaces the key file beside the data. Either way, when the service reads its key from
    FIXWRIGHT_SECRETS_KEY, the operator must put the new one there.
    """
    store = SecretsStore(state_dir, configured_key)
    values = store.read()
    key = new_key()
    target = new_key_file or key_path(state_dir)
    # The key first: a crash between the two writes leaves the old file and both keys on disk.
    write_private_file(target, key + b"\n")
    write_private_file(store.path, encrypt(_fernet(key, str(target)), values))
    if new_key_file is not None:
        # The old key opens nothing any more; the new one is where the operator asked.
        with contextlib.suppress(FileNotFoundError):
            key_path(state_dir).unlink()
    return target
