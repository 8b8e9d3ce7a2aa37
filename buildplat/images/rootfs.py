"""Local base images for ``buildplat run``: a real Debian bookworm image per buildfact, built without a daemon.

``debootstrap --variant=minbase`` of bookworm from this machine's own Debian mirror (``apt_sources``), with the
buildfact's ``runtime_packages`` included, trimmed (apt caches and lists, docs, man pages, locales), given the
non-root user ``nonroot`` (65532:65532), packed as one layer and written as an OCI image layout under
``${BUILDPLAT_CACHE:-~/.cache/buildplat}/base/<buildfact>/`` (tag ``local``). It is built once: the layout
records its recipe (suite, packages), and a layout whose recipe matches is reused at once.

Building needs root (debootstrap chroots and creates device nodes) and debootstrap; without them the error
says how to get them. App Eng's registry base images come from ``base-images/`` (issue 6), not from here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from buildplat import proc
from buildplat.buildfacts.registry import get as get_buildfact
from buildplat.clients import oci
from buildplat.clients.oci import Descriptor
from buildplat.clients.oci_layout import OciLayout
from buildplat.errors import BuildplatError, CommandFailed
from buildplat.images.apt_sources import debian_mirror
from buildplat.images.progress import PhaseFilter
from buildplat.images.tarlayer import pack_directory
from buildplat.stages.image import LOCAL_BASE_REPOSITORY, LOCAL_BASE_TAG, default_base_layout

SUITE = "bookworm"
RECIPE_FILE = "buildplat-recipe.json"
BUILDER_VERSION = 1  # bump when the way the image is made changes: cached images are then rebuilt
NONROOT = ("nonroot", 65532)
# Caches and documentation: what Debian's own slim images leave out too.
TRIMMED = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/log",
    "tmp",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
)


def recipe(buildfact: str) -> dict[str, Any]:
    """What the image is made from; a cached image with another recipe is rebuilt."""
    packages = sorted(get_buildfact(buildfact).runtime_packages)
    return {"builder": BUILDER_VERSION, "suite": SUITE, "variant": "minbase", "packages": packages}


def local_base_provider(say: Callable[[str], None]) -> Callable[[str], Path]:
    """What ``StageContext.base_images`` wants: buildfact -> its local base layout, built on first use."""
    return lambda buildfact: ensure_local_base(buildfact, say=say)


def ensure_local_base(buildfact: str, *, say: Callable[[str], None], layout_dir: Path | None = None) -> Path:
    """The layout holding the local base image of ``buildfact``; built when missing or out of date."""
    target = layout_dir or default_base_layout(buildfact)
    wanted = recipe(buildfact)
    if _current(target, wanted):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent / f".{target.name}.lock"):
        if _current(target, wanted):  # another run built it while we waited
            return target
        _check_can_build()
        started = time.monotonic()
        packages = ", ".join(wanted["packages"]) or "nothing else"
        say(f"base image: building the local {buildfact} base (Debian {SUITE} + {packages}) in {target}")
        say("base image: this takes a minute or two, once; later runs reuse it")
        work = Path(tempfile.mkdtemp(prefix=f".build-{buildfact}-", dir=target.parent))
        try:
            layout = work / "layout"
            _build(buildfact, wanted, work / "rootfs", layout, say)
            _swap_in(layout, target, work)
        finally:
            _unmount_under(work)  # a failed debootstrap can leave /proc or /dev mounted in the new root
            shutil.rmtree(work, ignore_errors=True)
        say(f"base image: {buildfact} ready in {time.monotonic() - started:.0f} s")
    return target


def _build(buildfact: str, wanted: dict[str, Any], rootfs: Path, layout_dir: Path, say: Callable[[str], None]) -> None:
    mirror = debian_mirror(SUITE)
    packages: list[str] = list(wanted["packages"])
    argv: list[str] = ["debootstrap", "--variant=minbase"]
    if packages:
        argv.append("--include=" + ",".join(packages))
    argv += [SUITE, str(rootfs), mirror]
    say(f"base image: debootstrap {SUITE} from {mirror}")
    try:
        proc.run(argv, stream_to=PhaseFilter(say, "base image: debootstrap"), what="debootstrap")
    except CommandFailed as exc:
        raise BuildplatError(
            f"{exc.message}\n(building the local {buildfact} base image from {mirror})",
            hint="check that this machine reaches its Debian mirror (apt-get update works), then run again",
        ) from exc
    _trim(rootfs)
    _add_user(rootfs)
    say("base image: packing the root filesystem as one layer")
    layer = pack_directory(rootfs, layout_dir.parent / "layer.tar.gz")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
            "User": f"{NONROOT[1]}:{NONROOT[1]}",
            "Cmd": ["/bin/bash"],
            "Labels": {
                "org.opencontainers.image.title": f"buildplat local {buildfact} base",
                "dev.buildplat.base.buildfact": buildfact,
                "dev.buildplat.base.packages": " ".join(packages),
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [
            {
                "created": "1970-01-01T00:00:00Z",
                "created_by": f"buildplat: debootstrap --variant=minbase {SUITE} + {' '.join(packages)}",
            }
        ],
    }
    raw_config = oci.canonical_json(config)
    store = OciLayout(layout_dir)
    repository = f"{LOCAL_BASE_REPOSITORY}/{buildfact}"
    store.put_blob(repository, layer.digest, layer.path)
    store.put_blob(repository, oci.sha256_digest(raw_config), raw_config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": Descriptor(oci.OCI_CONFIG, oci.sha256_digest(raw_config), len(raw_config)).to_json(),
        "layers": [Descriptor(oci.OCI_LAYER_GZIP, layer.digest, layer.size).to_json()],
    }
    store.put_manifest(repository, LOCAL_BASE_TAG, oci.canonical_json(manifest), oci.OCI_MANIFEST)
    (layout_dir / RECIPE_FILE).write_text(json.dumps(wanted, sort_keys=True) + "\n", encoding="utf-8")


def _trim(rootfs: Path) -> None:
    for relative in TRIMMED:
        directory = rootfs / relative
        if directory.is_dir():
            for child in directory.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    (rootfs / "tmp").chmod(0o1777)


def _add_user(rootfs: Path) -> None:
    name, uid = NONROOT
    passwd, group = rootfs / "etc" / "passwd", rootfs / "etc" / "group"
    if f"\n{name}:" not in "\n" + passwd.read_text():
        with passwd.open("a") as stream:
            stream.write(f"{name}:x:{uid}:{uid}:{name}:/home/{name}:/usr/sbin/nologin\n")
        with group.open("a") as stream:
            stream.write(f"{name}:x:{uid}:\n")
    home = rootfs / "home" / name
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, uid, uid)


def _current(target: Path, wanted: dict[str, Any]) -> bool:
    try:
        recorded = json.loads((target / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == wanted and LOCAL_BASE_TAG in OciLayout(target).tags())


def _check_can_build() -> None:
    if os.geteuid() != 0:
        raise BuildplatError(
            "building a local base image needs root (debootstrap chroots into the new system)",
            hint="run `buildplat run` as root once (later runs reuse the cached image), "
            "or set BUILDPLAT_CACHE to a cache that already holds the base images",
        )
    if proc.which("debootstrap") is None:
        raise BuildplatError(
            "building a local base image needs debootstrap, which is not installed",
            hint="apt-get install debootstrap",
        )


def _unmount_under(root: Path) -> None:
    """Lazily unmount whatever is mounted at or below ``root``, deepest first, so deleting it stays inside it."""
    prefix = str(root.resolve())
    try:
        table = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    except OSError:
        return
    points = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")  # spaces and the like come octal-escaped
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
        proc.run(["umount", "-l", point], check=False)


def _swap_in(layout: Path, target: Path, work: Path) -> None:
    """Replace ``target`` with ``layout`` by renames, so readers never see a half-built layout."""
    if target.exists():
        os.replace(target, work / "old")
    os.replace(layout, target)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
