"""Small real inputs for the image tests: a .deb built by dpkg-deb, an app record, a base image layout."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor
from buildplat.clients.oci_layout import OciLayout
from buildplat.spec.model import AppSpec, Runtime
from buildplat.spec.platform import JenkinsConfig, PlatformConfig, RegistryConfig, SecretRef, SyncConfig
from buildplat.stages.context import PipelineState, StageContext

EPOCH = 1700000000
BUSYBOX = Path("/bin/busybox")


def make_deb(
    directory: Path,
    name: str = "hello",
    version: str = "1.2.0",
    files: dict[str, str] | None = None,
    *,
    compression: str = "xz",
    epoch: int = EPOCH,
) -> Path:
    """A real .deb made by dpkg-deb (as the package stage does): ``files`` are paths under /opt/<name>/."""
    root = directory / f"root-{name}-{version}-{compression}"
    payload = root / "opt" / name
    payload.mkdir(parents=True)
    for relative, text in (files or {"hello.txt": "hello from the deb\n"}).items():
        path = payload / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755 if text.startswith("#!") else 0o644)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Team <team@example.com>\n"
        f"Description: test package {name}\n a second description line\n"
    )
    sums = [
        f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.relative_to(root)}"  # noqa: S324 - dpkg's format
        for p in sorted(payload.rglob("*"))
        if p.is_file()
    ]
    (root / "DEBIAN" / "md5sums").write_text("\n".join(sums) + "\n")
    for path in root.rglob("*"):
        os.utime(path, (epoch, epoch), follow_symlinks=False)
    out = directory / f"{name}_{version}_all-{compression}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
    )
    return out


def make_app(
    name: str = "hello",
    namespace: str = "team",
    *,
    command: tuple[str, ...] | None = None,
    app_type: str = "worker",
    env: tuple[tuple[str, str], ...] = (),
    buildfact: str = "python",
) -> AppSpec:
    return AppSpec(
        namespace=namespace,
        name=name,
        type=app_type,
        version="1.x.0",
        description=f"{name} for tests",
        buildfacts=(buildfact,),
        build_steps=(),
        build_command=None,
        artifacts="dist/",
        runtime=Runtime(command=command or ("/bin/cat", f"/opt/{name}/hello.txt"), port=8080, env=env),
    )


def busybox_tar() -> bytes:
    """A root filesystem of Debian's static busybox with its applets (a base image's one layer)."""
    buffer = io.BytesIO()
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in (
            "bin",
            "etc",
            "tmp",
            "var",
            "var/lib",
            "var/lib/dpkg",
            "var/lib/dpkg/info",
            "proc",
            "sys",
            "dev",
            "opt",
        ):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        files = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\n",
            "var/lib/dpkg/status": "",
        }
        for file_name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(file_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_base_layout(path: Path, tag: str = "local", *, user: str = "") -> OciLayout:
    """An OCI layout holding a one-layer busybox base image tagged ``tag``."""
    import gzip

    plain = busybox_tar()
    layer = gzip.compress(plain, mtime=0)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "User": user, "Labels": {"base.label": "kept"}},
        "rootfs": {"type": "layers", "diff_ids": [oci.sha256_digest(plain)]},
        "history": [{"created_by": "test busybox base"}],
    }
    raw_config = oci.canonical_json(config)
    store = OciLayout(path)
    store.put_blob("base", oci.sha256_digest(layer), layer)
    store.put_blob("base", oci.sha256_digest(raw_config), raw_config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": Descriptor(oci.OCI_CONFIG, oci.sha256_digest(raw_config), len(raw_config)).to_json(),
        "layers": [Descriptor(oci.OCI_LAYER_GZIP, oci.sha256_digest(layer), len(layer)).to_json()],
    }
    store.put_manifest("base", tag, oci.canonical_json(manifest), oci.OCI_MANIFEST)
    return store


def make_context(app: AppSpec, out: Path, deb: Path, **extra: object) -> tuple[StageContext, PipelineState]:
    out.mkdir(parents=True, exist_ok=True)
    target = out / deb.name
    if deb.parent != out:
        target.write_bytes(deb.read_bytes())
    state = PipelineState(app=app.full_name, version="1.7.0", build_number=7, deb=deb.name)
    console = io.StringIO()
    ctx = StageContext(app=app, repo=out, out=out, build_number=7, console=console, **extra)  # type: ignore[arg-type]
    return ctx, state


def tar_members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def read_json(path: Path) -> dict[str, object]:
    value: dict[str, object] = json.loads(path.read_text())
    return value


def platform_config(registry_url: str, base_repository: str, **registry_options: object) -> PlatformConfig:
    """A platform config whose only live part is the registry (the image stage reads nothing else)."""
    registry = RegistryConfig(url=registry_url, base_repository=base_repository, **registry_options)  # type: ignore[arg-type]
    jenkins = JenkinsConfig("http://127.0.0.1:1/", "team", SecretRef(), SecretRef(), {})
    return PlatformConfig(
        source="platform.json",
        team="team",
        namespaces={"dev": "team-dev"},
        repositories=(),
        jenkins=jenkins,
        sync=SyncConfig(interval_seconds=300, state_dir=Path("/nonexistent")),
        registry=registry,
    )


def skopeo_push_layout(layout: Path, tag: str, destination: str) -> None:
    """Push an image from a layout with skopeo (an independent tool, not the code under test)."""
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{destination}"],
        check=True,
        capture_output=True,
    )
