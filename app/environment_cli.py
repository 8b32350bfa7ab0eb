"""`fixwright env list` and `fixwright env prune`: the prepared environments on this engine."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import docker
from docker.errors import DockerException

from app.config import ConfigError, load_settings
from app.environment_service import environment_cache
from sandbox.environment_spec import image_tag


def describe_entry(key: str, used: float, size: int, now: float) -> str:
    """One line: the image, its size, when a job last used it."""
    age = "never" if not used else f"{(now - used) / 3600:.1f} h ago"
    return f"{image_tag(key)}  {size / 1e6:,.0f} MB  last used {age}"


def _cache() -> Any:
    settings = load_settings(os.environ, for_github=False)
    return environment_cache(docker.from_env(timeout=120), settings)


def list_environments(args: argparse.Namespace) -> int:
    """Every prepared environment, the most recently used first."""
    del args
    try:
        entries = _cache().entries()
    except (ConfigError, DockerException) as error:
        print(f"fixwright env list: {error}", file=sys.stderr)
        return 1
    now = time.time()
    for key, used, size in entries:
        print(describe_entry(key, used, size, now))
    if not entries:
        print("no prepared environment on this engine")
    return 0


def prune_environments(args: argparse.Namespace) -> int:
    """Remove all but the `--keep` most recently used (all of them with `--keep 0`)."""
    try:
        removed = _cache().prune(args.keep)
    except (ConfigError, DockerException) as error:
        print(f"fixwright env prune: {error}", file=sys.stderr)
        return 1
    for key in removed:
        print(f"removed {image_tag(key)}")
    print(f"{len(removed)} environment(s) removed")
    return 0


def register(commands: Any) -> None:
    """Add `env list` and `env prune` to the `fixwright` command."""
    env = commands.add_parser("env", help="the prepared environments on this Docker engine")
    actions = env.add_subparsers(dest="env_command", required=True)
    actions.add_parser("list", help="list them, most recently used first").set_defaults(
        func=list_environments
    )
    prune = actions.add_parser("prune", help="remove the least recently used")
    prune.add_argument("--keep", type=int, default=0, help="how many to keep (default 0: none)")
    prune.set_defaults(func=prune_environments)
