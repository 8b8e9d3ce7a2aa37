"""The parts of `buildplat images` that need no server: versions, the safe-rebase rule, waves, state, the CLI."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from buildplat.images import safety, versions
from buildplat.images.announce import team_payload
from buildplat.images.build import PACKAGES_LABEL, installed_versions
from buildplat.images.discover import AppImage, base_repository_of
from buildplat.images.plan import REBASE, PlanEntry
from buildplat.images.rollout import waves
from buildplat.images.rollout_state import DONE, FAILED, RolloutState
from tests.cli_helpers import run_cli

DAY = datetime.date(2025, 6, 1)


def test_version_is_the_day_and_a_content_hash(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ${BASE}\n")
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "Dockerfile").write_text("x\n")
    digest = versions.tree_digest(tmp_path, exclude=["agent"])
    version = versions.make_version(DAY, digest, "sha256:base", b"status")
    assert versions.VERSION_RE.match(version)
    assert version.startswith("20250601-")
    assert version == versions.make_version(DAY, digest, "sha256:base", b"status"), "same inputs, same version"
    assert version != versions.make_version(DAY, digest, "sha256:base", b"status with a new package")
    (tmp_path / "agent" / "Dockerfile").write_text("changed\n")
    assert versions.tree_digest(tmp_path, exclude=["agent"]) == digest, "the agent does not make a new runtime"
    (tmp_path / "Dockerfile").chmod(0o755)
    assert versions.tree_digest(tmp_path, exclude=["agent"]) != digest, "the executable bit counts"
    assert versions.created_label(version) == "2025-06-01T00:00:00Z"
    assert versions.same_content(version, ["stable", "20250501-" + version[9:]]) == "20250501-" + version[9:]
    assert versions.same_content(version, ["stable", "20250501-0123456789ab"]) is None


@pytest.mark.parametrize("bad", ["stable", "2025-06-01", "20250601-XYZ", "20250601-0123456789ab; rm"])
def test_a_bad_version_is_a_usage_error(bad: str) -> None:
    from buildplat.errors import UsageError

    with pytest.raises(UsageError, match="is not a base-image version"):
        versions.check_version(bad)


def test_installed_versions_read_from_a_dpkg_status_file() -> None:
    status = (
        b"Package: python3\nStatus: install ok installed\nVersion: 3.11.2-1+b1\nDescription: x\n long\n\n"
        b"Package: python3-doc\nStatus: deinstall ok config-files\nVersion: 1\n\n"
        b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n"
    )
    assert installed_versions(status, ("python3", "python3-doc")) == {"python3": "3.11.2-1+b1"}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.11.2-1+b1", ("3", "11")),
        ("17.0.9+9-1~deb12u1", ("17", "0")),
        ("1:2.39.2-1.1", ("2", "39")),
        ("20230311", ()),
        ("18", ("18", "0")),
    ],
)
def test_series_is_the_upstream_major_and_minor(version: str, expected: tuple[str, ...]) -> None:
    assert safety.series(version) == expected


def _config(packages: str | None, **run: Any) -> dict[str, Any]:
    labels = {PACKAGES_LABEL: packages} if packages is not None else {}
    return {"os": "linux", "architecture": "amd64", "config": {"User": "65532:65532", "Labels": labels, **run}}


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (_config("python3=3.11.2-1"), _config("python3=3.11.4-1+deb12u1"), None),
        (_config("ca-certificates=20230311"), _config("ca-certificates=20240203"), None),
        (_config("python3=3.11.2-1"), _config("python3=3.12.1-1"), "python3 3.11.2-1 -> 3.12.1-1 is a new major"),
        (_config("python3=3.11.2-1"), _config("python3=3.11.2-1 libpython3=1"), "the runtime packages changed"),
        (_config(None), _config("python3=3.11.2-1"), "the old base does not record its runtime package versions"),
        (_config("python3=3.11.2-1"), _config("python3=3.11.2-1", User="0"), "the base's User changed"),
        (_config("python3=3.11.2-1", Env=["A=1"]), _config("python3=3.11.2-1", Env=["A=2"]), "the base's Env changed"),
    ],
)
def test_safe_rebase_rule(old: dict[str, Any], new: dict[str, Any], reason: str | None) -> None:
    found = safety.rebuild_reason(old, new)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(reason)


def test_base_repository_of_ignores_the_host_and_the_tag() -> None:
    assert base_repository_of("127.0.0.1:5000/buildplat/base/python:stable") == "buildplat/base/python"
    assert base_repository_of("registry.example.com/buildplat/base/java@sha256:00") == "buildplat/base/java"
    assert base_repository_of("buildplat/base/go:20250601-0123456789ab") == "buildplat/base/go"
    assert base_repository_of(None) is None


def _entry(app: str) -> PlanEntry:
    image = AppImage(app, app, "1.0.0", "sha256:" + "1" * 64, "python", "1.0.0", "b/python", "sha256:" + "2" * 64)
    return PlanEntry(image, None, REBASE, "", "1.0.0-base-x")


def test_waves_cap_each_team() -> None:
    entries = [_entry(f"red/a{i}") for i in range(5)] + [_entry("blue/b0")] + [_entry(f"green/c{i}") for i in range(2)]
    planned = waves(entries, per_team=2)
    assert [[e.app for e in wave] for wave in planned] == [
        ["blue/b0", "green/c0", "green/c1", "red/a0", "red/a1"],
        ["red/a2", "red/a3"],
        ["red/a4"],
    ]
    assert waves([], per_team=3) == []


def test_state_survives_a_reopen_and_counts_attempts(tmp_path: Path) -> None:
    state = RolloutState(tmp_path)
    assert state.start("r1", "python", "v2", "sha256:x") is True
    assert state.begin("r1", "red/a", "red", "rebase") == 1
    state.end("r1", "red/a", FAILED, detail="HTTP 500")
    assert state.begin("r1", "red/a", "red", "rebase") == 2
    state.end("r1", "red/a", DONE, tag="1.0.0-base-v2", digest="sha256:y", notice='{"app": "red/a"}')
    state.close()
    again = RolloutState(tmp_path)
    assert again.start("r1", "python", "v2", "sha256:x") is False, "the second run resumes"
    record = again.apps("r1")["red/a"]
    assert (record.status, record.attempts, record.tag, record.notified) == (DONE, 2, "1.0.0-base-v2", False)
    again.set_notified("r1", "red/a")
    assert again.apps("r1")["red/a"].notified
    assert again.apps("other") == {}
    assert not again.finished("r1")
    again.mark_finished("r1")
    assert again.finished("r1")


def test_team_payload_is_the_single_form_for_one_app_and_a_list_for_more() -> None:
    new, old = {"version": "v2", "digest": "sha256:" + "b" * 64}, {"version": "v1", "digest": "sha256:" + "a" * 64}
    one, other = ({"event": "base-image", "app": app, "buildfact": "python", "old": old, "new": new, "tag": "1-base-v2"}
                  for app in ("red/a", "red/b"))  # fmt: skip
    assert team_payload([one], "#r") == {**one, "room": "#r"}, "one app: the form every Hubot script knows"
    both = team_payload([one, other], "#r")
    assert both == {"event": "base-image", "room": "#r", "buildfact": "python", "new": new,
                    "apps": [{"app": "red/a", "old": old, "tag": "1-base-v2"},
                             {"app": "red/b", "old": old, "tag": "1-base-v2"}]}  # fmt: skip


def test_cli_usage_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    unknown = run_cli("images", "plan", "cobol", "--to", "20250601-0123456789ab", "--config", str(tmp_path / "x"))
    unknown.assert_no_traceback()
    assert unknown.returncode == 2
    assert "unknown buildfact 'cobol'" in unknown.stderr
    assert "hint: known: java, nodejs, go, ruby, python" in unknown.stderr
    push = run_cli("images", "build", "python", "--push")
    assert push.returncode == 2
    assert "--push needs --config" in push.stderr
    missing = run_cli("images", "rollout", "python", "--to", "20250601-0123456789ab")
    assert missing.returncode == 2, "argparse: --config is required"


def test_no_docker_engine_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli(
        "images", "build", "python", "--state-dir", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    )
    done.assert_no_traceback()
    assert done.returncode == 1
    assert "cannot reach a Docker engine" in done.stderr
    assert "hint: `buildplat images build` needs a Docker engine" in done.stderr
