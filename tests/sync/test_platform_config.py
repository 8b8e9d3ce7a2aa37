"""The platform config's repository URLs and folder names: what a seed job can really use, refused with a place."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from buildplat.errors import BuildplatError
from buildplat.spec.platform import load_platform_file
from buildplat.spec.schemas import load_schema


def _config(tmp_path: Path, *, url: str = "git://git.example.com/team/app.git", folder: str | None = None) -> Path:
    jenkins: dict[str, str] = {"url": "http://jenkins:8080/"}
    if folder is not None:
        jenkins["folder"] = folder
    document = {"team": "team", "repositories": [{"url": url}], "jenkins": jenkins}
    path = tmp_path / "platform.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def _schema_says(path: Path) -> bool:
    return jsonschema.Draft202012Validator(load_schema("platform.schema.json")).is_valid(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "url",
    [
        "ssh://git@git.example.com/team/app.git",  # the usual SSH form names the login user: not a secret
        "ssh://git@git.example.com:2222/team/app.git",
        "ssh://git.example.com/team/app.git",
        "https://git.example.com/team/app.git",
        "git://git.example.com/team/app.git",
        "file:///srv/git/team/app.git",
        "/srv/git/team/app.git",
    ],
)
def test_repository_urls_a_seed_job_can_fetch_are_accepted(tmp_path: Path, url: str) -> None:
    path = _config(tmp_path, url=url)
    assert load_platform_file(path).repositories[0].url == url
    assert _schema_says(path)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:token@git.example.com/team/app.git",
        "https://token@git.example.com/team/app.git",  # a token written as the user name
        "ssh://git:password@git.example.com/team/app.git",
        "git://user@git.example.com/team/app.git",
        "ext::sh -c touch% /tmp/pwned",
        "git@git.example.com:team/app.git",  # scp-like: not a URL git and Jenkins read alike
    ],
)
def test_urls_with_credentials_or_odd_transports_are_refused_with_their_place(tmp_path: Path, url: str) -> None:
    path = _config(tmp_path, url=url)
    with pytest.raises(BuildplatError) as raised:
        load_platform_file(path)
    assert f"{path}:5:14: error: " in raised.value.message  # the place of the URL in the file
    assert "(at $.repositories[0].url)" in raised.value.message
    assert "ssh://[user@]" in raised.value.message  # the title, as written
    for secret in ("token", "password"):
        assert secret not in raised.value.message  # a credential in the file is not printed by its error
    assert not _schema_says(path)


@pytest.mark.parametrize("folder", ["team.", "a.", "-team", ".hidden", "a/b", "x" * 64])
def test_folder_names_jenkins_would_refuse_are_refused_here(tmp_path: Path, folder: str) -> None:
    path = _config(tmp_path, folder=folder)
    with pytest.raises(BuildplatError):
        load_platform_file(path)
    assert not _schema_says(path)


@pytest.mark.parametrize("folder", ["team", "team.apps", "Team_2", "a", "x" * 63, "team-"])
def test_folder_names_jenkins_takes_are_accepted(tmp_path: Path, folder: str) -> None:
    assert load_platform_file(_config(tmp_path, folder=folder)).jenkins.folder == folder


def _approvers_config(tmp_path: Path, approvers: list[str]) -> Path:
    document = {
        "team": "team",
        "repositories": [{"url": "git://git.example.com/team/app.git"}],
        "jenkins": {"url": "http://jenkins:8080/", "prod_approvers": approvers},
    }
    path = tmp_path / "platform.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def test_prod_approvers_are_read_in_order(tmp_path: Path) -> None:
    path = _approvers_config(tmp_path, ["alice", "team-release@corp"])
    assert load_platform_file(path).jenkins.prod_approvers == ("alice", "team-release@corp")
    assert _schema_says(path)


@pytest.mark.parametrize(("approvers", "place"), [(["alice,bob"], "[0]"), (["alice", "o'brien"], "[1]")])
def test_a_prod_approver_that_is_no_jenkins_name_is_refused_with_its_place(
    tmp_path: Path, approvers: list[str], place: str
) -> None:
    path = _approvers_config(tmp_path, approvers)
    with pytest.raises(BuildplatError) as raised:
        load_platform_file(path)
    assert f"(at $.jenkins.prod_approvers{place})" in raised.value.message
    assert "a Jenkins user ID or group name" in raised.value.message
    assert not _schema_says(path)


@pytest.mark.parametrize("approvers", [[], ["alice", "alice"]])
def test_an_empty_or_repeated_approver_list_is_refused(tmp_path: Path, approvers: list[str]) -> None:
    with pytest.raises(BuildplatError, match=r"\$\.jenkins\.prod_approvers"):
        load_platform_file(_approvers_config(tmp_path, approvers))
