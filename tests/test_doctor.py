"""`fixwright doctor`: each check says how things stand and what to fix; any error fails it.

The pure checks are tested on their inputs; `diagnose` runs against the fake GitHub, the fake
model API and the real engine, with the repository's own manifest.yml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.doctor import (
    IMAGE_VERSION_LABEL,
    Check,
    Level,
    diagnose,
    exit_code,
    image_check,
    manifest_checks,
    own_container_id,
    read_manifest,
    render,
    same_path_check,
)
from tests.fakes.github.fixtures import FakeGitHub, generate_private_key
from tests.fakes.model.fixtures import FakeModel

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def environment(fake_github: FakeGitHub, fake_model: FakeModel, tmp_path: Path) -> dict[str, str]:
    return {
        **fake_github.environment(),
        "FIXWRIGHT_ANTHROPIC_API_KEY": fake_model.api_key,
        "FIXWRIGHT_MODEL_UPSTREAM_URL": fake_model.url,
        "FIXWRIGHT_STATE_DIR": str(tmp_path / "state"),
    }


def test_the_manifest_names_what_the_app_lacks() -> None:
    manifest = {
        "default_permissions": {"contents": "write", "checks": "write", "metadata": "read"},
        "default_events": ["issues", "pull_request_review"],
    }
    app = {"permissions": {"contents": "read", "metadata": "read"}, "events": ["issues"]}
    permissions, events = manifest_checks(manifest, app)
    assert permissions.level is Level.ERROR
    assert "checks: write (has none)" in permissions.detail
    assert "contents: write (has read)" in permissions.detail
    assert "metadata" not in permissions.detail
    assert "Permissions & events" in permissions.remedy
    assert events.level is Level.WARN
    assert "pull_request_review" in events.detail


def test_a_stronger_permission_than_asked_is_enough() -> None:
    manifest = {"default_permissions": {"contents": "read"}, "default_events": []}
    app = {"permissions": {"contents": "write"}, "events": []}
    assert [check.level for check in manifest_checks(manifest, app)] == [Level.OK, Level.OK]


def test_the_sandbox_image_missing_or_of_another_version_says_to_build_it() -> None:
    missing = image_check("fixwright-sandbox:latest", None, "2.0.0")
    assert missing.level is Level.ERROR
    assert "fixwright sandbox build" in missing.remedy
    older = image_check("fixwright-sandbox:latest", {IMAGE_VERSION_LABEL: "1.0.0"}, "2.0.0")
    assert older.level is Level.WARN
    assert "1.0.0" in older.detail
    assert "fixwright sandbox build" in older.remedy
    current = image_check("fixwright-sandbox:latest", {IMAGE_VERSION_LABEL: "2.0.0"}, "2.0.0")
    assert current.level is Level.OK


def test_in_a_container_the_state_directory_must_be_the_hosts_same_path() -> None:
    state = Path("/srv/fixwright-data/state")

    def check(mounts: list[dict[str, str]] | None) -> Check:
        return same_path_check("state", state, mounts, "FIXWRIGHT_STATE_DIR")

    same = {"Type": "bind", "Source": "/srv/fixwright-data", "Destination": "/srv/fixwright-data"}
    assert check([same]).level is Level.OK
    elsewhere = {"Type": "bind", "Source": "/home/ops/data", "Destination": "/srv/fixwright-data"}
    moved = check([elsewhere])
    assert moved.level is Level.ERROR
    assert "/home/ops/data" in moved.detail
    assert "same path inside and outside" in moved.remedy
    # The innermost mount decides: a volume over the state directory hides the outer bind.
    volume = {
        "Type": "volume",
        "Source": "/var/lib/docker/volumes/x/_data",
        "Destination": str(state),
    }
    assert check([same, volume]).level is Level.ERROR
    assert check([]).level is Level.ERROR
    assert check(None).level is Level.WARN


CONTAINER = "4f" * 32
MOUNTINFO_IN_A_CONTAINER = (
    "520 519 0:52 / / rw,relatime - overlay overlay rw\n"
    f"531 520 8:1 /var/lib/docker/containers/{CONTAINER}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
)
MOUNTINFO_ON_THE_HOST = (
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    f"610 22 0:60 / /var/lib/docker/containers/{CONTAINER}/mounts/shm rw - tmpfs shm rw\n"
)


def test_the_container_is_known_by_the_source_of_its_hostname_file() -> None:
    assert own_container_id(MOUNTINFO_IN_A_CONTAINER) == CONTAINER
    assert own_container_id(MOUNTINFO_ON_THE_HOST) is None


def test_render_puts_the_fix_under_its_finding_and_errors_fail() -> None:
    checks = [
        Check("a", Level.OK, "fine"),
        Check("b", Level.WARN, "odd", "look"),
        Check("c", Level.ERROR, "broken", "mend it"),
    ]
    assert render(checks).splitlines() == [
        "OK     a: fine",
        "WARN   b: odd",
        "       fix: look",
        "ERROR  c: broken",
        "       fix: mend it",
    ]
    assert exit_code(checks) == 1
    assert exit_code(checks[:2]) == 0


def test_the_repository_manifest_is_read() -> None:
    manifest = read_manifest(MANIFEST)
    assert isinstance(manifest, dict)
    assert manifest["default_permissions"]["contents"] == "write"
    assert isinstance(read_manifest(MANIFEST.with_name("absent.yml")), str)


@pytest.mark.docker
def test_a_working_set_up_passes(
    fake_github: FakeGitHub, fake_model: FakeModel, sandbox_image: str, tmp_path: Path
) -> None:
    """Against the fake GitHub and model with the real engine: no error. The fake App subscribes
    to fewer events than the manifest, which is a warning naming them."""
    env = {
        **environment(fake_github, fake_model, tmp_path),
        "FIXWRIGHT_SANDBOX_IMAGE": sandbox_image,
    }
    checks = diagnose(env, None, MANIFEST)
    found = by_name(checks)
    for name in (
        "configuration",
        "state directory",
        "docker engine",
        "sandbox image",
        "github app",
        "app permissions",
        "model upstream",
    ):
        assert found[name].level is Level.OK, render(checks)
    assert "fixwright (id 4242)" in found["github app"].detail
    assert found["app events"].level is Level.WARN
    assert "pull_request_review" in found["app events"].detail
    assert exit_code(checks) == 0
    counted = [r for r in fake_model.requests if r.path == "/v1/messages/count_tokens"]
    assert len(counted) == 1
    assert counted[0].headers["x-api-key"] == fake_model.api_key


@pytest.mark.docker
def test_a_missing_image_and_a_wrong_key_are_errors_with_their_fix(
    fake_github: FakeGitHub,
    fake_model: FakeModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the command: exit 1, and each error followed by what to do."""
    env = environment(fake_github, fake_model, tmp_path)
    env["FIXWRIGHT_SANDBOX_IMAGE"] = "fixwright-sandbox:no-such-tag"
    env["FIXWRIGHT_ANTHROPIC_API_KEY"] = "sk-ant-wrong"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", "--manifest", str(MANIFEST)]) == 1
    shown = capsys.readouterr().out.splitlines()
    image = shown.index("ERROR  sandbox image: fixwright-sandbox:no-such-tag is not on the engine")
    assert shown[image + 1] == "       fix: run `fixwright sandbox build`"
    model = next(i for i, line in enumerate(shown) if line.startswith("ERROR  model upstream"))
    assert "refused the key (401)" in shown[model]
    assert "FIXWRIGHT_ANTHROPIC_API_KEY" in shown[model + 1]
    assert "sk-ant-wrong" not in "\n".join(shown)
    assert any(line.startswith("OK     github app") for line in shown)


@pytest.mark.docker
def test_another_apps_key_is_refused_by_github_with_the_fix(
    fake_github: FakeGitHub, fake_model: FakeModel, tmp_path: Path
) -> None:
    env = environment(fake_github, fake_model, tmp_path)
    env["FIXWRIGHT_PRIVATE_KEY"] = generate_private_key()
    found = by_name(diagnose(env, None, MANIFEST))
    assert found["github app"].level is Level.ERROR
    assert "401" in found["github app"].detail
    assert "FIXWRIGHT_APP_ID" in found["github app"].remedy
    assert "app permissions" not in found


@pytest.mark.docker
def test_a_bad_configuration_is_listed_and_the_rest_still_checked(
    fake_github: FakeGitHub, fake_model: FakeModel, tmp_path: Path
) -> None:
    """GitHub's settings missing: the engine, the image and the model are still checked; a
    setting every command needs wrong: nothing else is."""
    env = environment(fake_github, fake_model, tmp_path)
    del env["FIXWRIGHT_WEBHOOK_SECRET"]
    checks = diagnose(env, None, MANIFEST)
    problems = [c.detail for c in checks if c.name == "configuration"]
    assert len(problems) == 1
    assert "FIXWRIGHT_WEBHOOK_SECRET is not set" in problems[0]
    found = by_name(checks)
    assert found["docker engine"].level is Level.OK
    assert found["github app"].level is Level.WARN
    assert found["model upstream"].level is Level.OK
    assert exit_code(checks) == 1

    env["FIXWRIGHT_WORKERS"] = "-1"
    checks = diagnose(env, None, MANIFEST)
    assert [c.name for c in checks] == ["configuration", "configuration", "other checks"]
    assert any("FIXWRIGHT_WORKERS" in c.detail for c in checks)


def test_an_unwritable_state_directory_and_no_engine_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {"FIXWRIGHT_STATE_DIR": str(blocker / "state")}
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    found = by_name(diagnose(env, None, MANIFEST))
    assert found["state directory"].level is Level.ERROR
    assert "FIXWRIGHT_STATE_DIR" in found["state directory"].remedy
    assert found["docker engine"].level is Level.ERROR
    assert "DOCKER_HOST" in found["docker engine"].remedy
    assert "unix:///nonexistent.sock" in found["docker engine"].detail
