"""Settings, labels and the Dockerfile of the Docker-engine path: values from default.json never become syntax."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildplat.clients.docker_engine import DockerBuild, dockerfile
from buildplat.errors import BuildplatError
from buildplat.stages.image_config import ImageMetadata, public_url, runtime_settings
from tests.image.helpers import make_app


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ci:t0ken@git.example/team/app.git", "https://git.example/team/app.git"),
        ("https://token@git.example/x", "https://git.example/x"),
        ("https://git.example/x", "https://git.example/x"),
        ("git@git.example:team/app.git", "git@git.example:team/app.git"),  # scp-like: no secret in it
    ],
)
def test_public_url_drops_credentials(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_labels() -> None:
    meta = ImageMetadata(make_app(), "1.2.0", 0, "host/base/python:stable", "sha256:" + "b" * 64, None, "abc123")
    labels = meta.labels()
    assert labels["org.opencontainers.image.revision"] == "abc123"
    assert "org.opencontainers.image.source" not in labels, "no source: no label rather than an empty one"
    assert labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("user", ["", "0", "root", "0:0"])
def test_root_base_user_becomes_nonroot(user: str) -> None:
    assert runtime_settings(make_app(), {"config": {"User": user}}).user == "65532:65532"


def test_a_base_user_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(BuildplatError, match="not a user"):
        runtime_settings(make_app(), {"config": {"User": "app\nRUN curl evil"}})


def _build(**changes: object) -> DockerBuild:
    values: dict[str, object] = {
        "base": "127.0.0.1:5000/base/python@sha256:" + "a" * 64,
        "deb": Path("app.deb"),
        "entrypoint": ("python3", "/opt/app/app.py", 'say "hi"\nRUN x'),
        "user": "65532:65532",
        "env": (("GREETING", '"; RUN rm -rf / #'), ("MULTI", "line1\nline2")),
        "workdir": "/opt/app",
        "ports": (8080,),
        "labels": {},
    }
    values.update(changes)
    return DockerBuild(**values)  # type: ignore[arg-type]


def test_dockerfile_keeps_values_out_of_its_syntax() -> None:
    text = dockerfile(_build())
    assert "rm -rf" not in text, "env values travel as build arguments"
    assert "line2" not in text
    entrypoint = next(line for line in text.splitlines() if line.startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["python3", "/opt/app/app.py", 'say "hi"\nRUN x']
    assert 'ENV GREETING="${BUILDPLAT_ENV_0}"' in text
    assert len(text.splitlines()) == 12, "one line per instruction: nothing broke a line"


@pytest.mark.parametrize(
    "changes",
    [{"env": (("BAD NAME", "x"),)}, {"user": "x\nRUN y"}, {"workdir": "/opt/$x"}, {"base": "img\nRUN evil"}],
)
def test_dockerfile_refuses_what_would_become_syntax(changes: dict[str, object]) -> None:
    with pytest.raises(BuildplatError):
        dockerfile(_build(**changes))
