"""Rebasing an app image onto a new base over the registry API: no Docker engine, no layer bytes uploaded.

The new image has the new base's layers (mounted into the app's repository from the base repository), then the
app's own layers unchanged (same digests, same bytes: they are already in the repository), and a new config:
the app's, with the new base's ``diff_ids`` and history in place of the old base's, the labels the old base
contributed replaced by the new base's, and ``org.opencontainers.image.base.name``/``.base.digest`` naming the
new base (also as manifest annotations). Nothing in it depends on the time, so the same rebase always gives the
same digest, and a rollout that resumes finds its earlier work instead of redoing it.

Order, so a rebase killed at any point leaves every tag naming a complete image: blobs (mounts, the config),
the manifest by its digest (the registry checks it holds every blob), :func:`verify`, then the new tag (the
registry's answer must name our digest). A tag that exists already is never moved: it must name this very image
(a resumed rollout), or the app fails. The plan has read each repository's tags; when the new tag was not among
them it is not asked about again (the only other writer of such a tag is a rollout onto the same base, which
writes the same bytes). The app's existing tags are never touched.

:func:`verify` checks the manifest the registry now holds under the digest without asking what it already said:
the registry's answer to the manifest upload names the digest of the bytes it stored, which is the digest of our
bytes (else the upload fails), so the manifest is read back only from a registry that does not say; a blob the
registry just answered 201 for (a mount, the config upload) is present, so only the app's own layers are asked
about (HEAD). The rest is checked on the bytes written: the config is the one uploaded, its diff_ids are the new
base's and then the app's, the layers are the new base's and then the app's.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, Manifest
from buildplat.errors import BuildplatError
from buildplat.images.plan import Material, Target
from buildplat.stages.image_index import APP, BASE_DIGEST, BASE_NAME, BUILDFACT, VERSION

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient

ANNOTATED = (APP, BUILDFACT, VERSION, BASE_NAME, BASE_DIGEST, "org.opencontainers.image.revision",
             "org.opencontainers.image.source")  # fmt: skip


class VerifyFailed(BuildplatError):
    """A rebased manifest read back from the registry is not what was written; nothing was tagged."""


@dataclass(frozen=True)
class Rebased:
    repository: str
    tag: str
    digest: str
    config: dict[str, Any]
    manifest: bytes
    base_layers: tuple[str, ...]  # the new base's layer digests
    app_layers: tuple[str, ...]  # the app's own layer digests (unchanged)


def _labels(config: dict[str, Any]) -> dict[str, str]:
    return dict((config.get("config") or {}).get("Labels") or {})


def new_config(material: Material, target: Target) -> dict[str, Any]:
    """The app's config on the new base (see the module docstring)."""
    config = copy.deepcopy(material.config)
    old_base, new_base = material.old_config, target.config
    kept = len((old_base.get("rootfs") or {}).get("diff_ids") or [])
    app_diff_ids = list(config["rootfs"]["diff_ids"])[kept:]
    config["rootfs"] = {"type": "layers", "diff_ids": [*new_base["rootfs"]["diff_ids"], *app_diff_ids]}
    old_history = len(old_base.get("history") or [])
    config["history"] = [*(new_base.get("history") or []), *(config.get("history") or [])[old_history:]]
    inherited = _labels(old_base)
    own = {k: v for k, v in _labels(material.config).items() if inherited.get(k) != v}
    labels = {**_labels(new_base), **own, BASE_NAME: target.name, BASE_DIGEST: target.digest}
    run = dict(config.get("config") or {})
    run["Labels"] = labels
    config["config"] = run
    return config


def rebase(
    client: RegistryClient, material: Material, target: Target, repository: str, tag: str, *, tag_free: bool = False
) -> Rebased:
    """Write the rebased image to ``repository`` and tag it ``tag``; returns what was written.

    ``tag_free``: the caller has just seen the repository's tags without ``tag`` (the plan read them), so it is
    not asked about again before it is written.
    """
    oci.check_tag(tag)
    kept = len(material.old_base.layers)
    app_layers = [_oci(d) for d in material.manifest.layers[kept:]]
    base_layers = [_oci(d) for d in target.manifest.layers]
    for layer in target.manifest.layers:  # mounts: no bytes move (a blob already there mounts too)
        if not client.mount_blob(repository, layer.digest, target.repository):
            client.copy_blob(repository, layer, client, target.repository)
    config = new_config(material, target)
    raw_config = oci.canonical_json(config)
    config_blob = Descriptor(oci.OCI_CONFIG, oci.sha256_digest(raw_config), len(raw_config))
    client.put_blob(repository, config_blob.digest, raw_config, check=False)  # a few kB: no HEAD first
    # The registry answered 201 for each of these just now (mount, upload or found by copy_blob's HEAD).
    present = frozenset({config_blob.digest, *(d.digest for d in base_layers)})
    labels = _labels(config)
    annotations = {**material.manifest.annotations, **{k: labels[k] for k in ANNOTATED if k in labels}}
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": config_blob.to_json(),
        "layers": [d.to_json() for d in (*base_layers, *app_layers)],
        "annotations": annotations,
    }
    raw = oci.canonical_json(manifest)
    digest, confirmed = client.put_manifest_confirmed(repository, oci.sha256_digest(raw), raw, oci.OCI_MANIFEST)
    rebased = Rebased(repository, tag, digest, config, raw, tuple(d.digest for d in base_layers),
                      tuple(d.digest for d in app_layers))  # fmt: skip
    verify(client, rebased, raw_config, target, app_diff_ids=config["rootfs"]["diff_ids"][len(base_layers) :],
           present=present, confirmed=confirmed)  # fmt: skip
    existing = None if tag_free else client.manifest_digest(repository, tag)
    if existing not in (None, digest):
        raise BuildplatError(
            f"{client.describe(repository, tag)} already names another image ({existing}); it was left alone",
            hint="it was made by hand or by another rollout; if it is wrong, delete it and run the rollout again",
        )
    if existing is None:  # put_manifest checks the digest the registry says it stored under the tag is ours
        client.put_manifest(repository, tag, raw, oci.OCI_MANIFEST)
    return rebased


def verify(
    client: RegistryClient,
    rebased: Rebased,
    raw_config: bytes,
    target: Target,
    app_diff_ids: list[str],
    *,
    present: frozenset[str] = frozenset(),
    confirmed: bool = False,
) -> None:
    """Check the manifest the registry now holds under the digest; raises :class:`VerifyFailed`.

    Its bytes must be the ones written: read back, unless the registry ``confirmed`` their digest when it stored
    them. Every blob it names must be in the repository: asked (HEAD) unless the registry has just said so
    (``present``). Its config (``raw_config``, the bytes whose digest it names) must list the new base's diff_ids
    then the app's, one per layer; its layers must be the new base's then the app's.
    """
    where = client.describe(rebased.repository, rebased.digest)
    if confirmed:
        stored = Manifest(rebased.manifest, rebased.digest, oci.OCI_MANIFEST)
    else:
        stored = client.get_raw_manifest(rebased.repository, rebased.digest)
        if stored.raw != rebased.manifest:
            raise VerifyFailed(f"{where}: the registry returns other bytes than were written")
    for blob in (stored.config, *stored.layers):
        if blob.digest not in present and not client.has_blob(rebased.repository, blob.digest):
            raise VerifyFailed(f"{where}: blob {blob.digest} is missing from {rebased.repository}")
    if oci.sha256_digest(raw_config) != stored.config.digest:
        raise VerifyFailed(f"{where}: the manifest names another config than the one uploaded")
    diff_ids = list(json.loads(raw_config)["rootfs"]["diff_ids"])
    if diff_ids != [*target.config["rootfs"]["diff_ids"], *app_diff_ids] or len(diff_ids) != len(stored.layers):
        raise VerifyFailed(f"{where}: the config's diff_ids do not match the new base's and the app's layers")
    layers = tuple(d.digest for d in stored.layers)
    if layers != (*rebased.base_layers, *rebased.app_layers):
        raise VerifyFailed(f"{where}: the layers are not the new base's followed by the app's")
    if [d.digest for d in target.manifest.layers] != list(rebased.base_layers):
        raise VerifyFailed(f"{where}: the base layers are not those of {target.name}")


def _oci(descriptor: Descriptor) -> Descriptor:
    """The same blob under its OCI media type (Docker-typed layers are the same bytes)."""
    media_type = oci.OCI_EQUIVALENT.get(descriptor.media_type, descriptor.media_type)
    return Descriptor(media_type, descriptor.digest, descriptor.size, descriptor.annotations)
