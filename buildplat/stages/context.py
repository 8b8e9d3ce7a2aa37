"""What every pipeline stage receives, and how stages hand results to each other.

In Jenkins each stage is a separate ``buildplat step STAGE`` process, so results travel through a small JSON
file in the workspace, ``<out>/pipeline.json`` (:class:`PipelineState`), written atomically after each stage.
``buildplat run`` executes the same stages in one process against local targets.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from buildplat.errors import BuildplatError
from buildplat.spec.model import AppSpec
from buildplat.spec.platform import PlatformConfig

STAGES = ("build", "package", "publish", "image", "deploy", "verify", "notify", "promote")
STATE_FILE = "pipeline.json"


def fill_version(template: str, build_number: int) -> str:
    """``3.x.x`` + build 57 -> ``3.57.0``: the first x takes the build number, later x parts take 0.

    The result is a valid Debian version and image tag, and grows with the build number.
    """
    if build_number < 1:
        raise BuildplatError(f"the build number must be positive, got {build_number}")
    parts = template.split(".")
    filled: list[str] = []
    seen_x = False
    for part in parts:
        if part == "x":
            filled.append("0" if seen_x else str(build_number))
            seen_x = True
        else:
            filled.append(part)
    return ".".join(filled)


@dataclass
class PipelineState:
    """Outputs of the stages that have run, persisted in ``<out>/pipeline.json``."""

    app: str = ""  # namespace/name
    version: str = ""  # the filled version of this build
    build_number: int = 0
    commit: str | None = None
    deb: str | None = None  # path of the .deb, relative to the out directory
    deb_sha256: str | None = None
    published: dict[str, Any] | None = None  # where the deb went (repo, distribution, url)
    image: dict[str, Any] | None = None  # reference, digest, base {reference, digest}
    deployments: dict[str, Any] = field(default_factory=dict)  # environment -> {namespace, digest, revision}
    verify: dict[str, Any] | None = None
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "succeeded" | "failed: reason"

    @classmethod
    def load(cls, out: Path) -> PipelineState:
        path = out / STATE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise BuildplatError(
                f"cannot read the pipeline state {path}: {exc}",
                hint="run the earlier stages again (buildplat step build, package, …)",
            ) from exc
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, out: Path) -> None:
        """Write atomically, so a killed stage never leaves half a file behind."""
        out.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=out, prefix=".pipeline-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(asdict(self), stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(temp, out / STATE_FILE)

    def require(self, what: str, stage: str) -> Any:
        value = getattr(self, what)
        if not value:
            raise BuildplatError(
                f"the {stage} stage needs the {what} from an earlier stage, and there is none",
                hint=f"run the stages before {stage} first (buildplat run --until {stage} does it locally)",
            )
        return value


@dataclass(frozen=True)
class StageContext:
    """Everything a stage may read. ``platform`` is None for ``buildplat run`` on embedded local targets."""

    app: AppSpec
    repo: Path  # the application's checkout (holds default.json)
    out: Path  # where stages write: the deb, the image layout, manifests, reports, pipeline.json
    build_number: int
    platform: PlatformConfig | None = None
    commit: str | None = None
    source_url: str | None = None
    build_url: str | None = None  # link back to the Jenkins build, for notifications
    environ: dict[str, str] = field(default_factory=dict)
    console: IO[str] | None = None  # where stages report progress and stream tool output; None: stdout
    state_dir: Path | None = None  # state kept between builds (notify's last result); None: see notify
    service_urls: dict[str, str] = field(default_factory=dict)  # --service-url NAME=URL, over deployments
    pipeline_result: str | None = None  # notify: "success"/"failure" as Jenkins saw it; None: from stages
    tool_output: IO[str] | None = None  # where tools' output goes; None: the console (buildplat run: a log file)
    # buildplat run: buildfact -> the OCI layout of its local base image, built on first use (the command layer
    # passes buildplat.images.rootfs.local_base_provider(...)); None: the default cache must already hold it.
    base_images: Callable[[str], Path] | None = None

    def say(self, text: str) -> None:
        """One line of progress for the user (the Jenkins console, or the terminal of `buildplat run`)."""
        stream = self.console or sys.stdout
        stream.write(text + "\n")
        stream.flush()

    @property
    def stream(self) -> IO[str]:
        """Where tool output (build steps, system tests) is streamed to: ``tool_output``, else the console."""
        return self.tool_output or self.console or sys.stdout

    @property
    def version(self) -> str:
        return fill_version(self.app.version, self.build_number)

    @property
    def local(self) -> bool:
        return self.platform is None


_SAFE_FILE = re.compile(r"[^A-Za-z0-9._+-]")


def safe_file_name(text: str) -> str:
    """A string made safe to use as one file name (names are validated already; this is defence in depth)."""
    return _SAFE_FILE.sub("_", text)[:200] or "_"
