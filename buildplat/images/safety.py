"""When an app image can be rebased onto a new base, and when it must be rebuilt.

A rebase swaps the base layers under an app layer that was built against the old base. It is safe when nothing
the app layer (or the container's configuration derived from the base) depends on has changed. The rule:

1. the image is made the way buildplat makes them: its layers start with exactly the old base's layers, it has
   layers of its own on top, and its config's ``diff_ids`` match (so the swap is well defined);
2. the configuration the app inherits from the base is unchanged: ``User``, ``Env``, ``Entrypoint``, ``Cmd``,
   ``WorkingDir``, ``ExposedPorts``, ``Volumes``, ``StopSignal``, ``Shell``, and the OS and architecture;
3. both bases record their runtime packages (the ``dev.buildplat.base.packages`` label, written by
   ``buildplat images build`` from the image's dpkg database), the set of packages is the same, and each keeps
   its upstream major.minor version (python3 3.11.2 -> 3.11.4 is safe, 3.11 -> 3.12 is not: Python's ABI and
   ``site-packages`` are per minor version; OpenJDK 17.0.9 -> 17.0.10 is safe, 17 -> 21 is not). A version whose
   first part is a date (ca-certificates 20230311) is data, not an ABI: any change is safe.

A Debian security update or point release changes only the patch version or the Debian revision, so the usual
base update (a CVE fix) is a rebase. Anything else (a new runtime major or minor, a changed environment, an
image this rule cannot read) is a rebuild: the app's Jenkins job runs again on the new base.
"""

from __future__ import annotations

import re
from typing import Any

from buildplat.clients.oci import Manifest
from buildplat.images.build import PACKAGES_LABEL, parse_packages

INHERITED = ("User", "Env", "Entrypoint", "Cmd", "WorkingDir", "ExposedPorts", "Volumes", "StopSignal", "Shell")
_SERIES = re.compile(r"^(?:[0-9]+:)?([0-9]+)(?:\.([0-9]+))?")


def series(version: str) -> tuple[str, ...]:
    """The part of a Debian version that names an ABI: upstream major.minor; () for date versions."""
    match = _SERIES.match(version)
    if match is None:
        return (version,)
    major, minor = match.group(1), match.group(2)
    if len(major) >= 8:  # 20230311: a date, as data packages version themselves
        return ()
    return (major, minor or "0")


def _labels(config: dict[str, Any]) -> dict[str, str]:
    return dict((config.get("config") or {}).get("Labels") or {})


def layer_split(
    app: Manifest, app_config: dict[str, Any], old_base: Manifest, old_config: dict[str, Any]
) -> str | None:
    """Why the image's layers cannot be split into the old base's and its own; None when they can."""
    base_layers = [d.digest for d in old_base.layers]
    app_layers = [d.digest for d in app.layers]
    if app_layers[: len(base_layers)] != base_layers:
        return "its layers do not start with its base's layers"
    if len(app_layers) == len(base_layers):
        return "it has no layer of its own above the base"
    diff_ids = list((app_config.get("rootfs") or {}).get("diff_ids") or [])
    base_diff_ids = list((old_config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(app_layers) or diff_ids[: len(base_diff_ids)] != base_diff_ids:
        return "its config's diff_ids do not match its layers and its base's"
    return None


def rebuild_reason(old_config: dict[str, Any], new_config: dict[str, Any]) -> str | None:
    """Why moving from the old base to the new one needs a rebuild (rules 2 and 3); None when a rebase is safe."""
    old_run, new_run = old_config.get("config") or {}, new_config.get("config") or {}
    for key in INHERITED:
        if (old_run.get(key) or None) != (new_run.get(key) or None):
            return f"the base's {key} changed"
    for key in ("os", "architecture"):
        if old_config.get(key) != new_config.get(key):
            return f"the base's {key} changed"
    old_packages = parse_packages(_labels(old_config).get(PACKAGES_LABEL))
    new_packages = parse_packages(_labels(new_config).get(PACKAGES_LABEL))
    if old_packages is None or new_packages is None:
        which = "old" if old_packages is None else "new"
        return f"the {which} base does not record its runtime package versions ({PACKAGES_LABEL})"
    if set(old_packages) != set(new_packages):
        added = ", ".join(sorted(set(new_packages) - set(old_packages))) or "none"
        removed = ", ".join(sorted(set(old_packages) - set(new_packages))) or "none"
        return f"the runtime packages changed (added: {added}; removed: {removed})"
    for name in sorted(old_packages):
        before, after = old_packages[name], new_packages[name]
        if series(before) != series(after):
            return f"{name} {before} -> {after} is a new major or minor version"
    return None
