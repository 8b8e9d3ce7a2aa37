"""The publish stage: the package goes to the team's apt repository, where images and hosts install it from.

With a platform config: the aptly API (``apt`` in the config). The team's local repo is created when missing,
the package uploaded and added, and the distribution published (created the first time, updated after).
Publishing the same build again changes nothing; a different file under the same package, version and
architecture is refused, because apt could not tell the two apart. Signing is skipped unless
``$BUILDPLAT_APT_SIGNING_KEY`` names a GPG key in aptly's keyring.

Locally (``buildplat run``): a flat repository directory, ``<out>/apt/`` (see :mod:`buildplat.stages.aptrepo`).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from buildplat import proc
from buildplat.clients.aptly import AptlyClient, fetch_text
from buildplat.errors import BuildplatError
from buildplat.spec.platform import AptConfig
from buildplat.stages import aptrepo
from buildplat.stages.context import PipelineState, StageContext

LOCAL_REPO_DIR = "apt"


def run_publish(ctx: StageContext, state: PipelineState) -> None:
    started = time.monotonic()
    deb_name = str(state.require("deb", "publish"))
    deb = ctx.out / deb_name
    if not deb.is_file():
        raise BuildplatError(f"the package {deb} is gone", hint="run the package stage again (buildplat step package)")
    sha256 = _sha256(deb)
    if ctx.platform is not None and ctx.platform.apt is None:
        raise BuildplatError(
            f"the platform config {ctx.platform.source} has no apt section, so there is no repository to publish to",
            hint='add "apt": {"api_url": …, "public_url": …} (buildplat schema --platform describes it)',
        )
    if ctx.platform is None or ctx.platform.apt is None:
        directory = ctx.out / LOCAL_REPO_DIR
        added = aptrepo.add_package(directory, deb, sha256)
        state.published = {
            "kind": "flat",
            "path": str(directory.resolve()),
            "sources_line": aptrepo.sources_line(directory),
        }
        what = "added to" if added else "already in"
        ctx.say(f"publish: {deb_name} {what} the local apt repository {directory} ({_took(started)})")
        return
    state.published = publish_to_aptly(ctx, ctx.platform.apt, deb, sha256)
    what = "already published" if state.published["unchanged"] else "published"
    ctx.say(
        f"publish: {deb_name} {what} in {ctx.platform.apt.repo} "
        f"({state.published['distribution']}/{state.published['component']}) ({_took(started)})"
    )


def publish_to_aptly(ctx: StageContext, apt: AptConfig, deb: Path, sha256: str) -> dict[str, Any]:
    name, version, architecture = _control(deb)
    user = apt.user.read("apt repository user")
    password = apt.password.read("apt repository password")
    client = AptlyClient(apt.api_url, auth=(user, password) if user and password else None)
    if client.get_repo(apt.repo) is None:
        client.create_repo(apt.repo, apt.distribution, apt.component)
    query = f"Name (= {name}), $Version (= {version}), $Architecture (= {architecture})"
    present = client.packages(apt.repo, query)
    for package in present:
        if package.get("SHA256") != sha256:
            raise BuildplatError(
                f"the apt repository {apt.repo!r} already has {name} {version} ({architecture}) with other contents "
                f"(sha256 {str(package.get('SHA256'))[:12]}… there, {sha256[:12]}… now)",
                hint="a version must never be published twice with different contents; was the job's build "
                "number reset? Raise application.version in default.json so new builds get new versions",
            )
    if not present:
        _upload_and_add(client, apt.repo, deb)
    signing = _signing()
    published = client.published(apt.prefix, apt.distribution)
    unchanged = False
    if published is None:
        machine = proc.run(["dpkg", "--print-architecture"]).stdout.strip()
        architectures = sorted({machine} | ({architecture} - {"all"}))
        client.publish(
            apt.prefix,
            repo=apt.repo,
            distribution=apt.distribution,
            component=apt.component,
            architectures=architectures,
            signing=signing,
        )
    elif present and _already_served(apt, published, name, sha256, architecture):
        unchanged = True
    else:
        client.update_published(apt.prefix, apt.distribution, signing=signing)
    public = _public_base(apt)
    return {
        "kind": "aptly",
        "repo": apt.repo,
        "prefix": apt.prefix,
        "distribution": apt.distribution,
        "component": apt.component,
        "package": name,
        "version": version,
        "architecture": architecture,
        "url": public,
        "sources_line": f"deb [trusted=yes] {public} {apt.distribution} {apt.component}" if public else None,
        "unchanged": unchanged,
    }


def _upload_and_add(client: AptlyClient, repo: str, deb: Path) -> None:
    # A fresh upload directory per attempt: a half-finished earlier run cannot leave files in our way.
    directory = f"buildplat-{deb.stem[:80]}-{secrets.token_hex(4)}"
    try:
        client.upload(directory, deb)
        report = client.add_uploaded(repo, directory, deb.name)
    finally:
        client.delete_upload(directory)
    failed = report.get("FailedFiles") or []
    warnings = (report.get("Report") or {}).get("Warnings") or []
    if failed:
        detail = "; ".join(str(w) for w in warnings) or ", ".join(str(f) for f in failed)
        raise BuildplatError(
            f"the apt repository {repo!r} refused {deb.name}: {detail}",
            hint="another repository on the same aptly may hold a different file under this name and version",
        )


def _already_served(apt: AptConfig, published: dict[str, Any], name: str, sha256: str, architecture: str) -> bool:
    """True when the published index already lists this very file (only checkable with a public_url)."""
    if not apt.public_url:
        return False
    architectures = [a for a in published.get("Architectures") or [] if a != "source"]
    wanted = architecture if architecture != "all" else (architectures[0] if architectures else "")
    if not wanted:
        return False
    index = fetch_text(f"{_public_base(apt)}/dists/{apt.distribution}/{apt.component}/binary-{wanted}/Packages")
    if index is None:
        return False
    for stanza in index.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") == name and fields.get("SHA256") == sha256:
            return True
    return False


def _public_base(apt: AptConfig) -> str | None:
    """Where apt clients find the published distribution: the public URL plus the prefix."""
    if not apt.public_url:
        return None
    base = apt.public_url.rstrip("/")
    return base if apt.prefix in ("", ".") else f"{base}/{apt.prefix}"


def _signing() -> dict[str, Any]:
    key = os.environ.get("BUILDPLAT_APT_SIGNING_KEY")
    if key:
        return {"Skip": False, "GpgKey": key, "Batch": True}
    return {"Skip": True}


def _control(deb: Path) -> tuple[str, str, str]:
    done = proc.run(["dpkg-deb", "--field", deb, "Package", "Version", "Architecture"], what="reading the package")
    fields = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return fields["Package"], fields["Version"], fields["Architecture"]


def _sha256(path: Path) -> str:
    import hashlib

    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"
