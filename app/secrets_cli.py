"""`fixwright setup reopen` and `fixwright secrets rotate-key`: the stored secrets' two commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.approval_cli import store_settings
from app.secrets_store import REOPENED, SecretsError, SecretsStore, rotate_key


def reopen(args: argparse.Namespace) -> int:
    """Open /setup again on a configured service, so the App can be registered anew."""
    del args
    settings = store_settings("setup reopen")
    if settings is None:
        return 2
    try:
        SecretsStore(settings.state_dir, settings.secrets_key).update({REOPENED: "1"})
    except (SecretsError, OSError) as error:
        print(f"fixwright setup reopen: {error}", file=sys.stderr)
        return 1
    print(
        "set-up is open: /setup serves the page until an App is registered there; the running "
        "service keeps its App until it is restarted: restart it to apply the new one"
    )
    return 0


def rotate(args: argparse.Namespace) -> int:
    """Re-encrypt the stored secrets with a new key, and say where the key is."""
    settings = store_settings("secrets rotate-key")
    if settings is None:
        return 2
    try:
        where = rotate_key(settings.state_dir, settings.secrets_key, args.new_key_file)
    except (SecretsError, OSError) as error:
        print(f"fixwright secrets rotate-key: {error}", file=sys.stderr)
        return 1
    print(f"the stored secrets are encrypted with a new key, in {where} (mode 0600): back it up")
    if settings.secrets_key or args.new_key_file is not None:
        print(
            f"set FIXWRIGHT_SECRETS_KEY to the content of {where} before the next start: the old "
            "key opens nothing any more"
        )
    return 0


def register(commands: Any) -> None:
    """Add `fixwright setup reopen` and `fixwright secrets rotate-key`."""
    setup = commands.add_parser("setup", help="the set-up page (register the GitHub App)")
    setup_actions = setup.add_subparsers(dest="setup_command", required=True)
    opened = setup_actions.add_parser("reopen", help="serve /setup again, to register the App anew")
    opened.set_defaults(func=reopen)

    secrets = commands.add_parser("secrets", help="the secrets stored encrypted by set-up")
    secrets_actions = secrets.add_subparsers(dest="secrets_command", required=True)
    rotated = secrets_actions.add_parser(
        "rotate-key", help="re-encrypt the stored secrets with a new key"
    )
    rotated.add_argument(
        "--new-key-file",
        type=Path,
        help="write the new key there (default: secrets.key in the state directory)",
    )
    rotated.set_defaults(func=rotate)
