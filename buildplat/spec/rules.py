"""Rules for default.json that a JSON Schema cannot say: they relate one field to another.

Each rule looks only at parts of the document that have the right type, so a document with schema errors
still gets every cross-field finding that makes sense for it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from typing import Any

from buildplat.spec.checker import Finding

# Kubernetes namespace names are DNS-1123 labels of at most 63 characters; the longest suffix we add is
# "-stage" (6), so a team namespace may have at most 57.
NAMESPACE_SUFFIXES = ("-dev", "-stage", "-prod")
MAX_NAMESPACE = 63 - max(len(s) for s in NAMESPACE_SUFFIXES)
HTTP_TYPES = ("http_html", "http_api")


def step_buildfacts(schema: dict[str, Any]) -> dict[str, str]:
    """Step type -> the buildfact it needs, read from the ``x-buildfact`` annotations in the schema."""
    steps = schema["$defs"]["step"]["properties"]
    return {name: spec["x-buildfact"] for name, spec in steps.items() if "x-buildfact" in spec}


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _is_label(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and _LABEL.fullmatch(value) is not None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def app_rules(doc: Any, schema: dict[str, Any]) -> Iterator[Finding]:
    if not isinstance(doc, dict):
        return
    yield from _namespace_length(doc)
    yield from _version_x_parts(doc)
    yield from _steps_need_buildfacts(doc, schema)
    yield from _artifacts_inside_repo(doc)
    yield from _services(doc)


def _namespace_length(doc: dict[str, Any]) -> Iterator[Finding]:
    namespace = doc.get("namespace")
    if isinstance(namespace, str) and MAX_NAMESPACE < len(namespace) <= 63:
        yield Finding(
            ("namespace",),
            f"namespace {json.dumps(namespace)} is {len(namespace)} characters long, so "
            f'"{namespace}-stage" would be {len(namespace) + 6}, over Kubernetes\' limit of 63',
            f"use at most {MAX_NAMESPACE} characters",
            "namespace-length",
        )


def _version_x_parts(doc: dict[str, Any]) -> Iterator[Finding]:
    version = _dict(doc.get("application")).get("version")
    if not isinstance(version, str):
        return
    parts = version.split(".")
    if len(parts) == 3 and "x" in parts:
        first_x = parts.index("x")
        if any(p != "x" for p in parts[first_x:]):
            fixed = ".".join(parts[:first_x] + ["x"] * (3 - first_x))
            yield Finding(
                ("application", "version"),
                f"version {json.dumps(version)} has a number after an x part, so it could not grow with every build",
                f"make every part after the first x an x too: {json.dumps(fixed)}",
                "version-x",
            )


def _steps_need_buildfacts(doc: dict[str, Any], schema: dict[str, Any]) -> Iterator[Finding]:
    build = _dict(doc.get("build"))
    declared = {b for b in _list(_dict(build.get("system_setup")).get("buildfacts")) if isinstance(b, str)}
    needs = step_buildfacts(schema)
    for index, step in enumerate(_list(build.get("build_steps"))):
        for kind in _dict(step):
            wanted = needs.get(kind)
            if wanted is not None and wanted not in declared:
                yield Finding(
                    ("build", "build_steps", index, kind),
                    f"a {json.dumps(kind)} step needs the {json.dumps(wanted)} buildfact, which this file "
                    "does not declare",
                    f"add {json.dumps(wanted)} to build.system_setup.buildfacts",
                    "step-buildfact",
                    at_key=True,
                )


def _artifacts_inside_repo(doc: dict[str, Any]) -> Iterator[Finding]:
    artifacts = doc.get("artifacts")
    if not isinstance(artifacts, str) or not artifacts:
        return
    hint = 'use a path relative to the repository root, such as "target/"'
    if artifacts.startswith(("/", "~")) or (len(artifacts) > 1 and artifacts[1] == ":"):
        yield Finding(
            ("artifacts",),
            f"artifacts {json.dumps(artifacts)} is not relative to the repository",
            hint,
            "artifacts-inside",
        )
        return
    if "\\" in artifacts or "\x00" in artifacts:
        yield Finding(
            ("artifacts",),
            f"artifacts {json.dumps(artifacts)} has a backslash or NUL character",
            "separate directories with /",
            "artifacts-inside",
        )
        return
    normal = posixpath.normpath(artifacts)
    if normal == ".." or normal.startswith("../"):
        yield Finding(
            ("artifacts",), f"artifacts {json.dumps(artifacts)} points outside the repository", hint, "artifacts-inside"
        )
    elif normal == ".git" or normal.startswith(".git/"):
        yield Finding(("artifacts",), "artifacts must not be the repository's .git directory", hint, "artifacts-inside")


def _services(doc: dict[str, Any]) -> Iterator[Finding]:
    namespace = doc.get("namespace")
    application = _dict(doc.get("application"))
    name, app_type = application.get("name"), application.get("type")
    seen_names: dict[str, int] = {}
    seen_hosts: dict[str, int] = {}
    for index, service in enumerate(_list(doc.get("services"))):
        if not isinstance(service, dict):
            continue
        here = ("services", index)
        service_name = service.get("name")
        if isinstance(service_name, str):
            if service_name in seen_names:
                yield Finding(
                    (*here, "name"),
                    f"service name {json.dumps(service_name)} is used twice "
                    f"(first at services[{seen_names[service_name]}])",
                    "give every service its own name",
                    "service-unique",
                )
            else:
                seen_names[service_name] = index
        host = service.get("external_url")
        if isinstance(host, str):
            if app_type == "worker":
                yield Finding(
                    (*here, "external_url"),
                    "a worker has no Ingress, so it cannot have an external_url",
                    "remove external_url, or change application.type to http_api or http_html",
                    "worker-no-url",
                    at_key=True,
                )
            if host in seen_hosts:
                yield Finding(
                    (*here, "external_url"),
                    f"external_url {json.dumps(host)} is used twice (first at services[{seen_hosts[host]}])",
                    "give every service its own host name",
                    "host-unique",
                )
            else:
                seen_hosts[host] = index
        elif app_type in HTTP_TYPES and "external_url" not in service:
            yield Finding(
                here,
                f"an {app_type} service needs an external_url (its Ingress host)",
                'add "external_url": "www.example.com"',
                "http-needs-url",
            )
        owner = service.get("application")
        if isinstance(owner, str) and _is_label(namespace) and _is_label(name):
            expected = f"{namespace}/{name}"
            if owner != expected:
                other_team = owner.split("/", 1)[0] != namespace
                yield Finding(
                    (*here, "application"),
                    f"service application {json.dumps(owner)} "
                    + (
                        "belongs to another namespace; a repository may only deploy into its own"
                        if other_team
                        else "is not the application this file describes"
                    ),
                    f"write {json.dumps(expected)}",
                    "service-application",
                )
        instances = _dict(service.get("instances"))
        low, high = instances.get("min"), instances.get("max")
        if (
            isinstance(low, int)
            and isinstance(high, int)
            and not isinstance(low, bool)
            and not isinstance(high, bool)
            and low > high
        ):
            yield Finding(
                (*here, "instances", "min"),
                f"instances.min ({low}) is greater than instances.max ({high})",
                "make min at most max",
                "instances-order",
            )
