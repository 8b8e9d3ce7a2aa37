"""Local base images for ``buildplat run``: a real Debian image built by debootstrap, cached, and runnable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from buildplat.clients.oci_layout import OciLayout
from buildplat.errors import BuildplatError
from buildplat.images import rootfs
from buildplat.stages.image import LOCAL_BASE_TAG, run_image
from tests.harness.docker import DockerEngine
from tests.image.helpers import make_app, make_context, make_deb

# Kept between test runs on this machine: a cold build takes a minute or two, a warm one nothing.
CACHE = Path(os.environ.get("BUILDPLAT_TEST_BASE_CACHE", Path(tempfile.gettempdir()) / "buildplat-test-base-cache"))


def test_without_debootstrap_the_error_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("as non-root the root check answers first (tested below)")
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without debootstrap
    with pytest.raises(BuildplatError, match="needs debootstrap") as caught:
        rootfs.ensure_local_base("go", say=lambda _: None, layout_dir=tmp_path / "go")
    assert caught.value.hint == "apt-get install debootstrap"
    assert not (tmp_path / "go").exists()


def test_as_non_root_the_error_says_how_to_fix(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("runs as root here; the non-root path is exercised on developer machines")
    with pytest.raises(BuildplatError, match="needs root") as caught:
        rootfs.ensure_local_base("go", say=lambda _: None, layout_dir=tmp_path / "go")
    assert caught.value.hint


@pytest.mark.slow
@pytest.mark.docker
def test_python_base_is_a_real_debian_image_that_runs_the_app(docker_engine: DockerEngine, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("building a Debian base needs root and debootstrap (scripts/install-test-deps)")
    said: list[str] = []
    layout_dir = rootfs.ensure_local_base("python", say=said.append, layout_dir=CACHE / "python")
    layout = OciLayout(layout_dir)
    manifest = layout.get_manifest("base", LOCAL_BASE_TAG)
    assert len(manifest.layers) == 1
    config = json.loads(layout.get_blob("base", manifest.config.digest))
    assert config["config"]["User"] == "65532:65532"
    recorded = json.loads((layout_dir / rootfs.RECIPE_FILE).read_text())
    assert recorded["packages"] == ["python3"]

    started = time.monotonic()
    again: list[str] = []
    assert rootfs.ensure_local_base("python", say=again.append, layout_dir=CACHE / "python") == layout_dir
    assert time.monotonic() - started < 1.0
    assert again == [], "a cached base is reused silently"

    app = make_app(name="pyapp", command=("python3", "/opt/pyapp/app.py"))
    deb = make_deb(
        tmp_path / "deb",
        name="pyapp",
        files={"app.py": "import os, sys\nprint('python', sys.version_info[0], os.getuid())\n"},
    )
    ctx, state = make_context(app, tmp_path / "out", deb, base_images=lambda buildfact: layout_dir)
    run_image(ctx, state)
    assert state.image is not None
    image = f"buildplat-local/pyapp:{state.image['tag']}"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-daemon-host",
            docker_engine.host,
            f"oci:{tmp_path / 'out' / 'image'}:{state.image['tag']}",
            f"docker-daemon:{image}",
        ],
        check=True,
        capture_output=True,
    )
    assert docker_engine.cli("run", "--rm", image).stdout.decode() == "python 3 65532\n"
    version = docker_engine.cli("run", "--rm", "--entrypoint", "/bin/cat", image, "/etc/debian_version").stdout
    assert version.decode().startswith("12.")
    status = docker_engine.cli("run", "--rm", "--entrypoint", "/usr/bin/dpkg-query", image, "-W", "python3").stdout
    assert status.decode().startswith("python3\t3.11")
    ours = docker_engine.cli("run", "--rm", "--entrypoint", "/bin/cat", image, "/var/lib/dpkg/status.d/pyapp").stdout
    assert b"Status: install ok installed" in ours
