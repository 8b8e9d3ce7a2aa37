"""The image stage on local targets (``buildplat run``): base layout + deb -> an OCI layout, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildplat.clients import oci
from buildplat.clients.oci_layout import OciLayout
from buildplat.errors import BuildplatError, UsageError
from buildplat.stages.image import run_image
from tests.image.helpers import EPOCH, make_app, make_base_layout, make_context, make_deb


def _run(tmp_path: Path, out: str = "out", **app_options: object) -> tuple[dict[str, object], str, OciLayout]:
    base = tmp_path / "base"
    if not base.exists():
        make_base_layout(base)
    app = make_app(**app_options)  # type: ignore[arg-type]
    deb = make_deb(tmp_path / f"deb-{out}", name=app.name)
    ctx, state = make_context(app, tmp_path / out, deb, base_images=lambda buildfact: base)
    run_image(ctx, state)
    assert state.image is not None
    return state.image, ctx.console.getvalue(), OciLayout(tmp_path / out / "image")  # type: ignore[union-attr]


def test_local_image_is_written_to_a_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record, console, layout = _run(tmp_path)
    digest = str(record["digest"])
    assert capsys.readouterr().out == "", "the stage prints nothing on stdout; `buildplat step image` prints the digest"
    assert record["tag"] == "1.7.0"
    assert record["reference"] == f"oci:{tmp_path / 'out' / 'image'}@{digest}"
    base = OciLayout(tmp_path / "base").get_manifest("base", "local")
    assert record["base"] == {"reference": f"oci:{tmp_path / 'base'}:local", "digest": base.digest}
    assert layout.tags() == {"1.7.0": digest}
    assert "skopeo copy oci:" in console
    assert "docker run" in console
    saved = json.loads((tmp_path / "out" / "image.json").read_text())
    assert saved["digest"] == digest
    assert saved["app"] == "team/hello"
    assert saved["buildfact"] == "python"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hello_1.2.0_all-xz.deb", "image", "image.json"]


def test_manifest_config_and_annotations(tmp_path: Path) -> None:
    record, _, layout = _run(tmp_path, app_type="http_api", env=(("LOG_LEVEL", "debug"), ("PORT", "9")))
    manifest = layout.get_manifest("team/hello", str(record["digest"]))
    base = OciLayout(tmp_path / "base").get_manifest("base", "local")
    assert [d.digest for d in manifest.layers[:-1]] == [d.digest for d in base.layers]
    assert manifest.layers[-1].media_type == oci.OCI_LAYER_GZIP
    notes = manifest.annotations
    assert notes["org.opencontainers.image.version"] == "1.7.0"
    assert notes["org.opencontainers.image.base.digest"] == base.digest
    assert notes["org.opencontainers.image.base.name"].endswith(":local")
    assert notes["org.opencontainers.image.title"] == "hello"
    assert notes["dev.buildplat.app"] == "team/hello"
    assert notes["dev.buildplat.buildfact"] == "python"
    assert notes["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"  # the deb's time (EPOCH)
    config = json.loads(layout.get_blob("team/hello", manifest.config.digest))
    run = config["config"]
    assert run["Entrypoint"] == ["/bin/cat", "/opt/hello/hello.txt"]
    assert run["Cmd"] is None
    assert run["User"] == "65532:65532", "a root base user is replaced by a numeric non-root one"
    assert run["WorkingDir"] == "/opt/hello"
    assert run["Env"] == ["PATH=/bin", "LOG_LEVEL=debug", "PORT=9"], "runtime.env wins over the default PORT"
    assert run["ExposedPorts"] == {"8080/tcp": {}}
    assert run["Labels"]["base.label"] == "kept"
    assert {k: v for k, v in run["Labels"].items() if k != "base.label"} == notes
    assert len(config["rootfs"]["diff_ids"]) == len(manifest.layers) == 2
    assert len(config["history"]) == 2
    assert "hello" in config["history"][-1]["created_by"]
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert EPOCH == 1700000000


def test_same_inputs_give_the_same_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, _, _ = _run(tmp_path, "one")
    second, _, _ = _run(tmp_path, "two")
    assert first["digest"] == second["digest"]


def test_source_date_epoch_sets_the_created_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    record, _, layout = _run(tmp_path)
    assert layout.get_manifest("x", str(record["digest"])).annotations["org.opencontainers.image.created"] == (
        "1970-01-02T00:00:00Z"
    )


def test_non_root_base_user_is_kept(tmp_path: Path) -> None:
    make_base_layout(tmp_path / "base", user="1000:1000")
    record, _, layout = _run(tmp_path)
    manifest = layout.get_manifest("x", str(record["digest"]))
    assert json.loads(layout.get_blob("x", manifest.config.digest))["config"]["User"] == "1000:1000"


def test_missing_local_base_says_how_to_fix(tmp_path: Path) -> None:
    app = make_app()
    ctx, state = make_context(app, tmp_path / "out", make_deb(tmp_path))
    ctx = type(ctx)(**{**ctx.__dict__, "base_images": lambda buildfact: tmp_path / "nowhere"})
    with pytest.raises(BuildplatError, match="no local base image for python") as caught:
        run_image(ctx, state)
    assert caught.value.hint


def test_without_a_deb_the_stage_says_which_stage_to_run(tmp_path: Path) -> None:
    ctx, state = make_context(make_app(), tmp_path / "out", make_deb(tmp_path))
    state.deb = None
    with pytest.raises(BuildplatError, match="needs the deb"):
        run_image(ctx, state)


def test_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    ctx, state = make_context(make_app(), tmp_path / "out", make_deb(tmp_path))
    with pytest.raises(UsageError, match="unknown image engine"):
        run_image(ctx, state, engine="kaniko")
