"""Build the sandbox image, bootstrapping its Debian base when no container registry is reachable."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from sandbox.container import engine_id
from sandbox.host_environment import host_environment, operator_network, private_home

BASE_IMAGE = "debian:bookworm-slim"
# Verified against the npm package's native linux-x64 binary; override with --claude-code-version.
# What this version sends the model API, which the relay lets through, is in relay_traffic.py:
# read it again from the new version's traffic when this changes (tests/test_relay_traffic.py).
CLAUDE_CODE_VERSION = "2.1.332"

Log = Callable[[str], None]


class ImageBuildError(Exception):
    """The sandbox image could not be built; the message says what to do about it."""


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the operator and the test set-up."""

    tag: str
    image_id: str
    size_bytes: int
    seconds: float
    base_bootstrapped: bool
    claude_code_version: str

    def summary(self) -> str:
        base = "bootstrapped with debootstrap" if self.base_bootstrapped else "already present"
        return (
            f"built {self.tag} ({self.image_id[:19]}, {self.size_bytes / 1e6:.0f} MB, "
            f"Claude Code {self.claude_code_version}) in {self.seconds:.1f} s; "
            f"base {BASE_IMAGE} {base}"
        )


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    """True when the engine already holds an image under this tag."""
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def ensure_base_image(client: docker.DockerClient, log: Log = print) -> bool:
    """Make sure the Debian base exists: pull it, or bootstrap it. True when it was bootstrapped."""
    if image_exists(client, BASE_IMAGE):
        return False
    repository, tag = BASE_IMAGE.split(":")
    try:
        client.images.pull(repository, tag=tag)
        log(f"pulled {BASE_IMAGE}")
        return False
    except APIError as error:
        log(f"cannot pull {BASE_IMAGE} ({error.explanation}); bootstrapping it with debootstrap")
    bootstrap_base_image(client, log)
    return True


def bootstrap_base_image(client: docker.DockerClient, log: Log = print) -> None:
    """Build a minimal Debian bookworm root with debootstrap and import it as the base tag."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            f"{BASE_IMAGE} cannot be pulled and debootstrap is not installed: "
            "install it (apt-get install debootstrap) or load the base image with `docker load`."
        )
    with tempfile.TemporaryDirectory(prefix="fixwright-base-") as scratch:
        root = Path(scratch) / "root"
        archive = Path(scratch) / "root.tar"
        started = time.monotonic()
        # The allow-list keeps the operator's proxy and CA variables: debootstrap fetches packages.
        env = host_environment(operator_network(), home=private_home())
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if result.returncode != 0:
            raise ImageBuildError(
                f"debootstrap failed (exit {result.returncode}); it needs root and a Debian "
                f"mirror:\n{result.stderr[-2000:] or result.stdout[-2000:]}"
            )
        log(f"debootstrap finished in {time.monotonic() - started:.0f} s")
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True, env=env)
        repository, tag = BASE_IMAGE.split(":")
        client.api.import_image(
            src=str(archive), repository=repository, tag=tag, changes=['CMD ["bash"]']
        )
    log(f"imported {BASE_IMAGE}")


def build_context(ca_bundle: Path | None) -> bytes:
    """The build context as a tar archive: the Dockerfile, the forwarder's source and the extra CA
    bundle (maybe empty)."""
    files = resources.files("sandbox")
    extra_ca = ca_bundle.read_bytes() if ca_bundle else b""
    contents = (
        ("Dockerfile", files.joinpath("Dockerfile").read_bytes()),
        ("forward.c", files.joinpath("forward.c").read_bytes()),
        ("extra-ca.crt", extra_ca),
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in contents:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class BuildFailed(Exception):
    """The engine reported an error while building; the message is its own."""


def build_from_context(
    client: docker.DockerClient,
    context: bytes,
    *,
    tag: str | None = None,
    dockerfile: str = "Dockerfile",
    buildargs: dict[str, str] | None = None,
    network_mode: str | None = None,
    labels: dict[str, str] | None = None,
    log: Log | None = None,
) -> str:
    """Build from a tar archive as the context; the image id. Raises BuildFailed with the
    engine's error (each `Step` goes to `log` when given)."""
    image_id = ""
    for chunk in client.api.build(
        fileobj=io.BytesIO(context),
        custom_context=True,
        tag=tag,
        dockerfile=dockerfile,
        buildargs=buildargs,
        network_mode=network_mode,
        labels=labels,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            raise BuildFailed(chunk["error"].strip())
        line = chunk.get("stream", "").rstrip()
        if log is not None and line.startswith("Step "):
            log(line)
        if "aux" in chunk:
            image_id = chunk["aux"].get("ID", image_id)
    return image_id


def build_image(
    client: docker.DockerClient,
    *,
    tag: str,
    ca_bundle: Path | None = None,
    claude_code_version: str = CLAUDE_CODE_VERSION,
    log: Log = print,
) -> BuildReport:
    """Build the sandbox image under `tag` (bootstrapping the base if needed) and report on it."""
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ImageBuildError(f"--ca-bundle {ca_bundle} is not a readable file.")
    started = time.monotonic()
    bootstrapped = ensure_base_image(client, log)
    try:
        image_id = build_from_context(
            client,
            build_context(ca_bundle),
            tag=tag,
            buildargs={"CLAUDE_CODE_VERSION": claude_code_version},
            log=log,
        )
    except BuildFailed as error:
        raise ImageBuildError(f"docker build failed: {error}") from None
    try:
        image = client.images.get(tag)
    except (ImageNotFound, BuildError) as error:
        raise ImageBuildError(f"docker build reported no image for {tag}: {error}") from error
    return BuildReport(
        tag=tag,
        image_id=image_id or engine_id(image),
        size_bytes=int(image.attrs.get("Size", 0)),
        seconds=time.monotonic() - started,
        base_bootstrapped=bootstrapped,
        claude_code_version=claude_code_version,
    )


def build_egress_image(client: docker.DockerClient, *, tag: str, log: Log = print) -> str:
    """Build the allow-list proxy's image (Debian's tinyproxy) on the same base; its id."""
    ensure_base_image(client, log)
    dockerfile = resources.files("sandbox").joinpath("Dockerfile.egress").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(dockerfile), 0o644
        archive.addfile(info, io.BytesIO(dockerfile))
    try:
        image_id = build_from_context(client, buffer.getvalue(), tag=tag)
    except BuildFailed as error:
        raise ImageBuildError(f"docker build of {tag} failed: {error}") from None
    log(f"built {tag}")
    return image_id
