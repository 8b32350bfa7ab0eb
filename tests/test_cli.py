"""The `fixwright` command: refuses to start on a bad configuration, saying what to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_fixwright(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("FIXWRIGHT_")}


def test_serve_without_a_webhook_secret_exits_non_zero_naming_the_variable(tmp_path: Path) -> None:
    """Never fail open: an App half configured (here only its key) is no server, and the message
    names FIXWRIGHT_WEBHOOK_SECRET (with nothing configured, serve starts in set-up mode)."""
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    env = {**clean_environment(), "FIXWRIGHT_PRIVATE_KEY_PATH": str(key)}
    result = run_fixwright("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "FIXWRIGHT_WEBHOOK_SECRET is not set" in result.stderr
    assert "FIXWRIGHT_APP_ID" in result.stderr


def test_serve_reads_a_dotenv_file_in_its_directory(tmp_path: Path) -> None:
    """Settings in ./.env count: with only an invalid worker count there, that is the one complaint left."""
    (tmp_path / ".env").write_text(
        "FIXWRIGHT_WEBHOOK_SECRET=abc\nFIXWRIGHT_APP_ID=1\n"
        'FIXWRIGHT_PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\\nx\\n-----END RSA PRIVATE KEY-----"\n'
        "FIXWRIGHT_WORKERS=-1\n"
    )
    result = run_fixwright("serve", env=clean_environment(), cwd=tmp_path)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert problems == ["  - FIXWRIGHT_WORKERS must be at least 0, got '-1'."]
