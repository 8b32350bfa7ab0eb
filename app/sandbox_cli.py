"""`fixwright sandbox build` and `fixwright run`: the sandbox from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import docker
from docker.errors import DockerException

from app.config import PREFIX, ConfigError, Settings, load_settings
from app.log import configure_logging
from app.quota import cost_of_run
from app.sandbox_service import sandbox_limits
from sandbox.container import RunSpec
from sandbox.git_errors import GitError
from sandbox.image import (
    CLAUDE_CODE_VERSION,
    ImageBuildError,
    build_egress_image,
    build_image,
    image_exists,
)
from sandbox.relay import ModelRelay
from sandbox.runner import Outcome, RunResult, run_in_sandbox
from sandbox.stream import AssistantText, FinalResult, StreamEvent, SystemInit, ToolResult, ToolUse
from sandbox.workspace import WorkspaceError, copy_repository, diff_since_baseline
from sandbox.workspace_walk import WorkspaceRefused

PREVIEW_CHARS = 160


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sandbox build` and `run` to the `fixwright` command."""
    sandbox = subparsers.add_parser("sandbox", help="manage the sandbox image")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True)
    build = actions.add_parser("build", help="build the sandbox image (bootstrapping its base)")
    build.add_argument("--tag", help="image tag (default: FIXWRIGHT_SANDBOX_IMAGE or its default)")
    build.add_argument(
        "--ca-bundle", type=Path, help="extra CA bundle for TLS-intercepting networks"
    )
    build.add_argument("--claude-code-version", default=CLAUDE_CODE_VERSION)
    build.set_defaults(func=build_command)

    run = subparsers.add_parser("run", help="run one task in the sandbox on a copy of a local repo")
    run.add_argument("--repo", type=Path, required=True, help="a local git repository")
    run.add_argument("--prompt", required=True, help="what Claude Code should do")
    run.add_argument("--model", help="model name (default: FIXWRIGHT_MODEL or the CLI's)")
    run.add_argument("--max-turns", type=int, help="turn limit (default: FIXWRIGHT_MAX_TURNS)")
    run.add_argument("--timeout", type=float, help="wall-clock limit in seconds")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.set_defaults(func=run_command)


def run_settings(environ: Mapping[str, str], dotenv: Path | None = Path(".env")) -> Settings:
    """Settings for `fixwright run` and `sandbox build`: no GitHub credentials needed."""
    return load_settings(environ, dotenv, for_github=False)


def build_command(args: argparse.Namespace) -> int:
    """Build the sandbox image and the egress proxy's, and say what was done."""
    try:
        settings = run_settings(os.environ)
        client = docker.from_env(timeout=600)
        report = build_image(
            client,
            tag=args.tag or settings.sandbox_image,
            ca_bundle=args.ca_bundle,
            claude_code_version=args.claude_code_version,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
        build_egress_image(
            client,
            tag=settings.egress_image,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (ConfigError, ImageBuildError, DockerException) as error:
        print(f"fixwright sandbox build: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Run one task on a copy of the repository, show progress, print the diff (or JSON)."""
    try:
        settings = run_settings(os.environ)
    except ConfigError as error:
        print(f"fixwright run: configuration problems:\n{error}", file=sys.stderr)
        return 2
    if not settings.anthropic_api_key:
        print(
            f"fixwright run: {PREFIX}ANTHROPIC_API_KEY is not set: the relay needs the model key.",
            file=sys.stderr,
        )
        return 2
    # The terminal shows progress; the relay's log lines matter here only when something is wrong.
    configure_logging(
        log_format=settings.log_format,
        level="warning",
        secrets=settings.secret_values(),
        to_stderr=True,
    )
    try:
        result, diff = asyncio.run(_run(args, settings))
    except (WorkspaceError, DockerException, GitError) as error:
        print(f"fixwright run: {error}", file=sys.stderr)
        return 1
    except WorkspaceRefused as error:
        print(
            f"fixwright run: the copy holds {error}; fixwright does not read it, so there is "
            "no diff to show.",
            file=sys.stderr,
        )
        return 1
    # Priced as the service prices a job: the relay's token counts, never the CLI's own figure.
    cost = cost_of_run(result.usage, args.model or settings.model, settings.model_prices)
    if args.json:
        print(json.dumps(result_json(result, diff, cost), indent=2))
    else:
        print(diff or "(no changes)")
        print(summary_line(result, cost))
    return 0 if result.outcome is Outcome.SUCCESS else 1


async def _run(args: argparse.Namespace, settings: Settings) -> tuple[RunResult, str]:
    client = docker.from_env(timeout=120)
    if not image_exists(client, settings.sandbox_image):
        raise WorkspaceError(
            f"the sandbox image {settings.sandbox_image} is missing: run `fixwright sandbox build`."
        )
    with tempfile.TemporaryDirectory(prefix="fixwright-run-") as scratch:
        workspace = copy_repository(args.repo, Path(scratch))
        relay = ModelRelay(
            socket_path=Path(scratch) / "relay" / "model.sock",
            upstream_url=settings.model_upstream_url,
            api_key=settings.anthropic_api_key,
            max_body_bytes=settings.relay_max_body_bytes,
            max_in_flight=settings.relay_max_in_flight,
            extra_models=settings.relay_models,
        )
        spec = RunSpec(
            job_id="run-" + uuid.uuid4().hex[:12],
            workspace=workspace.path,
            prompt=args.prompt,
            model=args.model or "",
            max_turns=args.max_turns,
            timeout_seconds=args.timeout,
        )
        await relay.start()
        try:
            result = await run_in_sandbox(
                spec,
                sandbox_limits(settings),
                docker_client=client,
                relay=relay,
                on_event=lambda event: show_progress(event, sys.stderr),
            )
        finally:
            await relay.stop()
        return result, await asyncio.to_thread(diff_since_baseline, workspace)


def describe(event: StreamEvent) -> str | None:
    """One readable line for a stream event, or None for those not worth showing."""
    if isinstance(event, SystemInit):
        return f"started Claude Code (model {event.model}) in {event.cwd}"
    if isinstance(event, AssistantText):
        return f"claude: {_preview(event.text)}"
    if isinstance(event, ToolUse):
        detail = event.input.get("command") or event.input.get("file_path") or event.input
        return f"-> {event.name}: {_preview(str(detail))}"
    if isinstance(event, ToolResult):
        marker = "error" if event.is_error else "ok"
        return f"   <- {marker}: {_preview(event.content)}"
    if isinstance(event, FinalResult):
        return f"finished: {event.subtype} after {event.num_turns} turns"
    return None


def show_progress(event: StreamEvent, out: TextIO) -> None:
    line = describe(event)
    if line is not None:
        print(line, file=out, flush=True)


def summary_line(result: RunResult, cost_usd: float) -> str:
    """Outcome, turns, tokens and cost in one line."""
    usage = result.usage
    tokens = (
        f"{usage.input_tokens} in, {usage.output_tokens} out, "
        f"{usage.cache_creation_input_tokens} cache write, {usage.cache_read_input_tokens} cache read"
        if usage
        else "unknown"
    )
    return (
        f"outcome: {result.outcome.value}; turns: {result.num_turns}; tokens: {tokens}; "
        f"cost: ${cost_usd:.4f}; {result.seconds:.1f} s"
    )


def result_json(result: RunResult, diff: str, cost_usd: float) -> dict[str, Any]:
    """The result as plain JSON for scripts."""
    return {
        "outcome": result.outcome.value,
        "summary": result.summary,
        "num_turns": result.num_turns,
        "total_cost_usd": cost_usd,
        "usage": asdict(result.usage) if result.usage else None,
        "exit_code": result.exit_code,
        "seconds": round(result.seconds, 3),
        "diff": diff,
    }


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    """Entry point for these commands alone (the `fixwright` command registers them too)."""
    parser = argparse.ArgumentParser(prog="fixwright")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
