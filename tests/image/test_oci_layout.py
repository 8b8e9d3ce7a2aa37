"""The OCI layout store: round trip, tags, image indexes, hard-linked copies, atomicity, and skopeo reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, InvalidReference
from buildplat.clients.oci_layout import OciLayout
from buildplat.errors import BuildplatError
from tests.image.helpers import make_base_layout


def test_round_trip(tmp_path: Path) -> None:
    store = make_base_layout(tmp_path / "layout", "v1")
    assert json.loads((tmp_path / "layout" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    manifest = store.get_manifest("base", "v1")
    assert manifest.media_type == oci.OCI_MANIFEST
    assert store.get_manifest("base", manifest.digest).raw == manifest.raw
    config = json.loads(store.get_blob("base", manifest.config.digest))
    assert config["os"] == "linux"
    assert store.has_blob("base", manifest.layers[0].digest)
    assert not store.has_blob("base", "sha256:" + "0" * 64)
    assert store.tags() == {"v1": manifest.digest}
    reopened = OciLayout(tmp_path / "layout")
    assert reopened.get_manifest("base", "v1").digest == manifest.digest


def test_retagging_replaces_only_that_tag(tmp_path: Path) -> None:
    store = make_base_layout(tmp_path / "l", "v1")
    first = store.get_manifest("base", "v1")
    store.put_manifest("base", "v2", first.raw, first.media_type)
    other = json.loads(first.raw)
    other["annotations"] = {"x": "y"}
    raw = oci.canonical_json(other)
    digest = store.put_manifest("base", "v1", raw, oci.OCI_MANIFEST)
    assert store.tags() == {"v1": digest, "v2": first.digest}
    index = json.loads((tmp_path / "l" / "index.json").read_text())
    assert len(index["manifests"]) == 2


def test_image_index_resolves_to_linux_amd64(tmp_path: Path) -> None:
    store = make_base_layout(tmp_path / "l", "single")
    single = store.get_manifest("base", "single")
    index = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_INDEX,
        "manifests": [
            {
                **Descriptor(oci.OCI_MANIFEST, "sha256:" + "1" * 64, 10).to_json(),
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            {
                **Descriptor(oci.OCI_MANIFEST, single.digest, len(single.raw)).to_json(),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
    store.put_manifest("base", "multi", oci.canonical_json(index), oci.OCI_INDEX)
    assert store.get_manifest("base", "multi").digest == single.digest


def test_index_without_amd64_names_what_it_has(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "l")
    index = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_INDEX,
        "manifests": [
            {
                **Descriptor(oci.OCI_MANIFEST, "sha256:" + "1" * 64, 10).to_json(),
                "platform": {"os": "linux", "architecture": "arm64"},
            }
        ],
    }
    store.put_manifest("base", "arm", oci.canonical_json(index), oci.OCI_INDEX)
    with pytest.raises(BuildplatError, match=r"no linux/amd64 image \(it has: linux/arm64\)"):
        store.get_manifest("base", "arm")


def test_copy_between_layouts_hard_links(tmp_path: Path) -> None:
    source = make_base_layout(tmp_path / "src", "v1")
    target = OciLayout(tmp_path / "dst")
    layer = source.get_manifest("base", "v1").layers[0]
    assert target.copy_blob("app", layer, source, "base") is True
    assert target.blob_path(layer.digest).stat().st_ino == source.blob_path(layer.digest).stat().st_ino
    assert target.copy_blob("app", layer, source, "base") is True  # there already


def test_put_blob_checks_the_digest(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "l")
    with pytest.raises(BuildplatError, match="refusing to store"):
        store.put_blob("app", "sha256:" + "a" * 64, b"content")
    assert not list((tmp_path / "l" / "blobs" / "sha256").iterdir())


def test_corrupt_blob_is_detected(tmp_path: Path) -> None:
    store = make_base_layout(tmp_path / "l", "v1")
    manifest = store.get_manifest("base", "v1")
    store.blob_path(manifest.config.digest).write_bytes(b"{}")
    with pytest.raises(BuildplatError, match="corrupt"):
        store.get_blob("base", manifest.config.digest)


def test_missing_tag_names_the_tags_there(tmp_path: Path) -> None:
    store = make_base_layout(tmp_path / "l", "v1")
    with pytest.raises(BuildplatError, match=r"no tag 'v9' \(it has: v1\)"):
        store.get_manifest("base", "v9")


@pytest.mark.parametrize("reference", ["../../etc", "a/b", "-x", "sha256:zz", ""])
def test_bad_references_never_reach_the_filesystem(tmp_path: Path, reference: str) -> None:
    store = OciLayout(tmp_path / "l")
    with pytest.raises(InvalidReference):
        store.put_manifest("base", reference, b"{}", oci.OCI_MANIFEST)
    assert not (tmp_path / "l").exists()


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    make_base_layout(tmp_path / "l", "v1")
    leftovers = [p.name for p in (tmp_path / "l").rglob(".*") if p.name != ".buildplat-lock"]
    assert leftovers == []


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_reads_the_layout(tmp_path: Path) -> None:
    store = make_base_layout(tmp_path / "l", "v1")
    done = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'l'}:v1"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert oci.sha256_digest(done.stdout.encode()) == store.get_manifest("base", "v1").digest
