"""`fixwright doctor`: what stands between this configuration and a working service, with the fix.

Each check is a pure function of what was read (settings, an engine's answer, GitHub's answer);
`diagnose` does the reading. Nothing here changes anything but a probe file in the state directory.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import yaml

from app.config import ConfigError, Settings, load_settings
from sandbox.image import CLAUDE_CODE_VERSION

IMAGE_VERSION_LABEL = "io.fixwright.claude-code-version"
ANTHROPIC_VERSION = "2023-06-01"
# count_tokens spends nothing; any model name the upstream knows will do when none is set.
PROBE_MODEL = "claude-sonnet-4-5"
PROBE_TIMEOUT_SECONDS = 10.0


class Level(Enum):
    OK = "OK"
    WARN = "WARN"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it stands, what was seen, and what to do."""

    name: str
    level: Level
    detail: str
    remedy: str = ""


def ok(name: str, detail: str) -> Check:
    return Check(name, Level.OK, detail)


def render(checks: Iterable[Check]) -> str:
    """One line per check, and the fix indented under it."""
    lines: list[str] = []
    for check in checks:
        lines.append(f"{check.level.value:<5}  {check.name}: {check.detail}")
        if check.remedy:
            lines.append(f"       fix: {check.remedy}")
    return "\n".join(lines)


def exit_code(checks: Iterable[Check]) -> int:
    """1 when any check is an error, else 0 (warnings are worth reading, not failing on)."""
    return 1 if any(check.level is Level.ERROR for check in checks) else 0


# --- configuration ---------------------------------------------------------------------------


def configuration_checks(
    environ: Mapping[str, str], dotenv: Path | None
) -> tuple[list[Check], Settings | None, bool]:
    """The configuration's problems, the settings the other checks use, and whether GitHub's
    settings were among them (when not, only the checks that need no GitHub run)."""
    try:
        return [ok("configuration", "every setting is valid")], load_settings(environ, dotenv), True
    except ConfigError as error:
        checks = [
            Check("configuration", Level.ERROR, problem, "see README.md, section Configuration")
            for problem in error.problems
        ]
    try:
        return checks, load_settings(environ, dotenv, for_github=False), False
    except ConfigError:
        return checks, None, False


# --- the Docker engine and the sandbox image --------------------------------------------------


def engine_check(version: Mapping[str, Any] | None, error: str) -> Check:
    """The engine answered with its version, or why it did not."""
    where = os.environ.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
    if version is None:
        return Check(
            "docker engine",
            Level.ERROR,
            f"no answer from {where}: {error}",
            "start the Docker engine, or set DOCKER_HOST to where it listens; in a container, "
            "mount the engine's socket (see README.md, Deployment)",
        )
    return ok(
        "docker engine",
        f"Docker {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at {where}",
    )


def image_check(tag: str, labels: Mapping[str, str] | None, expected: str) -> Check:
    """The sandbox image is on the engine, built with the Claude Code this release expects."""
    build = "run `fixwright sandbox build`"
    if labels is None:
        return Check("sandbox image", Level.ERROR, f"{tag} is not on the engine", build)
    built = labels.get(IMAGE_VERSION_LABEL, "")
    if not built:
        return Check(
            "sandbox image",
            Level.WARN,
            f"{tag} has no {IMAGE_VERSION_LABEL} label, so its Claude Code version is unknown",
            build,
        )
    if built != expected:
        return Check(
            "sandbox image",
            Level.WARN,
            f"{tag} holds Claude Code {built}; this release is verified with {expected}",
            build,
        )
    return ok("sandbox image", f"{tag} with Claude Code {built}")


def same_path_check(
    name: str, path: Path, mounts: Iterable[Mapping[str, Any]] | None, setting: str
) -> Check:
    """In a container: `path` lies in a bind mount whose host path is its own path, since the
    engine resolves the sandbox's bind mounts (workspaces, the relay socket) on the host."""
    remedy = (
        f"mount the data directory at the same path inside and outside (-v DIR:DIR) and keep "
        f"{setting} in it"
    )
    if mounts is None:
        return Check(
            name, Level.WARN, "in a container whose mounts the engine did not tell", remedy
        )
    holding = [
        mount
        for mount in mounts
        if (destination := Path(str(mount.get("Destination", "")))) == path
        or destination in path.parents
    ]
    if not holding:
        return Check(
            name,
            Level.ERROR,
            f"{path} is inside the container only; the engine cannot see it",
            remedy,
        )
    mount = max(holding, key=lambda m: len(str(m.get("Destination", ""))))
    source, destination = (
        Path(str(mount.get("Source", ""))),
        Path(str(mount.get("Destination", ""))),
    )
    if mount.get("Type") == "bind" and source == destination:
        return ok(name, f"{path} is the same path on the host")
    return Check(
        name,
        Level.ERROR,
        f"{destination} is mounted from {source if mount.get('Type') == 'bind' else 'a volume'}, "
        f"so the engine would look for {path} somewhere else",
        remedy,
    )


# Docker bind-mounts each container's /etc/hostname from /var/lib/docker/containers/<id>/hostname.
HOSTNAME_SOURCE = re.compile(r"/containers/([0-9a-f]{64})/hostname\Z")


def own_container_id(mountinfo: str) -> str | None:
    """This container's id, read from the source of its /etc/hostname in its mount table; None
    outside Docker (on the engine's own host the table lists other containers' files, never as
    /etc/hostname)."""
    for line in mountinfo.splitlines():
        fields = line.split(" ", 5)
        if len(fields) > 4 and fields[4] == "/etc/hostname":
            found = HOSTNAME_SOURCE.search(fields[3])
            if found:
                return found.group(1)
    return None


def this_container() -> str | None:
    """The id of the Docker container this process runs in, or None."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return own_container_id(mountinfo[:1_000_000])


def container_path_checks(
    client: Any, container: str, state_dir: Path, temporary: Path
) -> list[Check]:
    """The state directory and the relay socket's directory (TMPDIR) are where the engine looks."""
    mounts = _mounts_of(client, container)
    return [
        same_path_check("state directory on the host", state_dir, mounts, "FIXWRIGHT_STATE_DIR"),
        same_path_check("relay socket directory on the host", temporary, mounts, "TMPDIR"),
    ]


def misplaced_data(settings: Settings) -> list[str]:
    """Why `fixwright serve` must not start: in a container whose engine says the state directory
    or TMPDIR are not the host's same paths (every job would fail). Nothing when it cannot tell
    (not in a container, or DOCKER_HOST is another engine than the one running it)."""
    import docker
    from docker.errors import DockerException

    container = this_container()
    if container is None:
        return []
    try:
        client = docker.from_env(timeout=10)
    except DockerException:
        return []
    try:
        checks = container_path_checks(
            client, container, Path(settings.state_dir).absolute(), Path(tempfile.gettempdir())
        )
    finally:
        client.close()
    return [f"{c.detail}: {c.remedy}." for c in checks if c.level is Level.ERROR]


def state_dir_check(state_dir: Path) -> Check:
    """The state directory exists (or can be made) and takes a file."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
    except OSError as error:
        return Check(
            "state directory",
            Level.ERROR,
            f"{state_dir} is not writable ({error.strerror})",
            "create it and give it to the user the service runs as, or set FIXWRIGHT_STATE_DIR",
        )
    return ok("state directory", f"{state_dir} is writable")


# --- GitHub ------------------------------------------------------------------------------------


def github_check(api_url: str, status: int | None, body: Any, error: str) -> Check:
    """GET /app answered as the App (the JWT was accepted), or what stood in the way."""
    name = "github app"
    if status is None:
        return Check(
            name,
            Level.ERROR,
            f"{api_url} cannot be reached: {error}",
            "check FIXWRIGHT_GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3) "
            "and this machine's route to it",
        )
    if status == 401:
        return Check(
            name,
            Level.ERROR,
            f"GitHub refused the App's token (401): {_message(body)}",
            "FIXWRIGHT_APP_ID and the private key must belong to the same App: download a new "
            "key from the App's page if in doubt",
        )
    if status != 200 or not isinstance(body, dict):
        return Check(name, Level.ERROR, f"GET /app answered {status}: {_message(body)}")
    return ok(name, f"signed in as the App {body.get('slug', '?')} (id {body.get('id', '?')})")


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:200]
    return "no message"


def manifest_checks(manifest: Mapping[str, Any], app: Mapping[str, Any]) -> list[Check]:
    """The App's permissions and events against the manifest's: what is missing or too weak."""
    wanted = manifest.get("default_permissions") or {}
    granted = app.get("permissions") or {}
    rank = {"none": 0, "read": 1, "write": 2, "admin": 3}  # an App permission's levels
    short = [
        f"{name}: {level} (has {granted.get(name, 'none')})"
        for name, level in sorted(wanted.items())
        if rank.get(str(granted.get(name, "none")), 0) < rank.get(str(level), 0)
    ]
    missing_events = sorted(
        set(manifest.get("default_events") or ()) - set(app.get("events") or ())
    )
    checks: list[Check] = []
    fix = "edit the App on GitHub (Permissions & events) to match manifest.yml, then accept the new permissions on each installation"
    if short:
        checks.append(
            Check("app permissions", Level.ERROR, "missing or too weak: " + ", ".join(short), fix)
        )
    else:
        checks.append(ok("app permissions", "every permission manifest.yml asks for"))
    if missing_events:
        checks.append(
            Check(
                "app events",
                Level.WARN,
                "not subscribed: "
                + ", ".join(missing_events)
                + " (what they trigger never arrives)",
                fix,
            )
        )
    else:
        checks.append(ok("app events", "every event manifest.yml subscribes to"))
    return checks


# --- the model API -----------------------------------------------------------------------------


def model_check(upstream: str, status: int | None, body: Any, error: str) -> Check:
    """The relay's upstream answered a count_tokens request with the key."""
    name = "model upstream"
    if status is None:
        return Check(
            name,
            Level.ERROR,
            f"{upstream} cannot be reached: {error}",
            "check FIXWRIGHT_MODEL_UPSTREAM_URL and this machine's route to it",
        )
    if status in (401, 403):
        return Check(
            name,
            Level.ERROR,
            f"{upstream} refused the key ({status})",
            "set FIXWRIGHT_ANTHROPIC_API_KEY to a valid key for this upstream",
        )
    if status >= 300:
        detail = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
        return Check(
            name,
            Level.WARN,
            f"{upstream} answered {status} to a token count{': ' + detail[:200] if detail else ''}",
            "a gateway may not offer count_tokens; if jobs fail to reach the model, check "
            "FIXWRIGHT_MODEL_UPSTREAM_URL",
        )
    return ok(name, f"{upstream} accepted the key")


# --- the reading ----------------------------------------------------------------------------


def read_manifest(path: Path) -> Mapping[str, Any] | str:
    """The manifest's mapping, or why it could not be read."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        return f"{path} cannot be read: {error}"
    return loaded if isinstance(loaded, dict) else f"{path} is not a mapping"


def _get(request: Callable[[], httpx.Response]) -> tuple[int | None, Any, str]:
    try:
        response = request()
    except httpx.HTTPError as error:
        return None, None, str(error) or type(error).__name__
    try:
        return response.status_code, response.json(), ""
    except ValueError:
        return response.status_code, None, ""


def github_and_manifest(settings: Settings, manifest: Mapping[str, Any] | str) -> list[Check]:
    """GET /app with the App's JWT, then its permissions and events against the manifest."""
    from app.github_app import GitHubAuthError, app_jwt  # only `doctor` needs it, not every command

    try:
        token = app_jwt(settings.app_id, settings.private_key, time.time())
    except GitHubAuthError as refused:
        return [Check("github app", Level.ERROR, str(refused))]
    url = settings.github_api_url.rstrip("/") + "/app"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    status, body, error = _get(
        lambda: httpx.get(url, headers=headers, timeout=PROBE_TIMEOUT_SECONDS)
    )
    checks = [github_check(settings.github_api_url, status, body, error)]
    if checks[0].level is not Level.OK:
        return checks
    if isinstance(manifest, str):
        return [
            *checks,
            Check(
                "app permissions", Level.WARN, manifest, "run from the checkout, or pass --manifest"
            ),
        ]
    return [*checks, *manifest_checks(manifest, body)]


def model_upstream(settings: Settings) -> Check:
    """A token count at the configured upstream; redirects are not followed, so the key goes
    to that host and no other."""
    if not settings.anthropic_api_key:
        return Check(
            "model upstream",
            Level.ERROR,
            "FIXWRIGHT_ANTHROPIC_API_KEY is not set",
            "set it to the key the relay forwards with (it never enters a container)",
        )
    url = settings.model_upstream_url.rstrip("/") + "/v1/messages/count_tokens"
    headers = {"x-api-key": settings.anthropic_api_key, "anthropic-version": ANTHROPIC_VERSION}
    payload = {
        "model": settings.model or PROBE_MODEL,
        "messages": [{"role": "user", "content": "ping"}],
    }
    status, body, error = _get(
        lambda: httpx.post(
            url,
            headers=headers,
            json=payload,
            timeout=PROBE_TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    )
    return model_check(settings.model_upstream_url, status, body, error)


def engine_and_image(settings: Settings, state_dir: Path) -> list[Check]:
    """The engine's version, the sandbox image's label, and (in a container) the same-path rule."""
    import docker
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.from_env(timeout=10)
        version = client.version()
    except DockerException as error:
        return [engine_check(None, str(error))]
    try:
        checks = [engine_check(version, "")]
        try:
            labels = client.images.get(settings.sandbox_image).labels or {}
        except ImageNotFound:
            labels = None
        checks.append(image_check(settings.sandbox_image, labels, CLAUDE_CODE_VERSION))
        container = this_container()
        if container is not None:
            temporary = Path(tempfile.gettempdir())
            checks.extend(container_path_checks(client, container, state_dir, temporary))
        return checks
    finally:
        client.close()


def _mounts_of(client: Any, container: str) -> list[Mapping[str, Any]] | None:
    """A container's mounts as the engine reports them, None when it cannot say."""
    from docker.errors import DockerException

    try:
        return list(client.containers.get(container).attrs.get("Mounts") or [])
    except DockerException:
        return None


def diagnose(environ: Mapping[str, str], dotenv: Path | None, manifest_path: Path) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    checks, settings, github_ready = configuration_checks(environ, dotenv)
    if settings is None:
        return [*checks, Check("other checks", Level.WARN, "not run until the configuration loads")]
    state_dir = Path(settings.state_dir).absolute()
    checks.append(state_dir_check(state_dir))
    checks.extend(engine_and_image(settings, state_dir))
    if github_ready:
        checks.extend(github_and_manifest(settings, read_manifest(manifest_path)))
    else:
        checks.append(
            Check("github app", Level.WARN, "not checked until the configuration is fixed")
        )
    checks.append(model_upstream(settings))
    return checks


def default_manifest() -> Path:
    """manifest.yml in the current directory (the image's working directory), else the checkout's."""
    here = Path("manifest.yml")
    return here if here.exists() else Path(__file__).resolve().parent.parent / "manifest.yml"


def doctor_command(args: argparse.Namespace) -> int:
    checks = diagnose(
        os.environ, Path(".env"), Path(args.manifest) if args.manifest else default_manifest()
    )
    print(render(checks))
    code = exit_code(checks)
    print(
        "\nfixwright doctor: " + ("something must be fixed" if code else "ready"), file=sys.stderr
    )
    return code


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the configuration, the engine, the image, GitHub and the model API, "
        "and say what to fix",
    )
    parser.add_argument(
        "--manifest", help="the App manifest to compare the App with (default ./manifest.yml)"
    )
    parser.set_defaults(func=doctor_command)
