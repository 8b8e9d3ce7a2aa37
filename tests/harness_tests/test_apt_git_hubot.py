"""The apt repository, git server and Hubot of the test harness do what the rest of the suite relies on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest
import requests

from buildplat.clients.hubot import post_notification
from tests.harness.aptly import AptError, AptRepo
from tests.harness.gitd import GitServer
from tests.harness.hubot import FAILING_ROOM, Hubot, start_hubot

pytestmark = pytest.mark.slow


def build_deb(where: Path, package: str, version: str, payload: str) -> Path:
    """A minimal .deb installing /opt/<package>/VERSION, built without root as the package stage does."""
    root = where / f"{package}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "opt" / package).mkdir(parents=True)
    (root / "opt" / package / "VERSION").write_text(payload, encoding="utf-8")
    control = (
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: buildplat tests <tests@buildplat.invalid>\nDescription: harness test package\n"
    )
    (root / "DEBIAN" / "control").write_text(control, encoding="utf-8")
    deb = where / f"{package}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True)
    return deb


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), field], check=True, capture_output=True, text=True
    ).stdout.strip()


def deb_file(deb: Path, member: str) -> str:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    return subprocess.run(["tar", "-xOf", "-", member], input=data, check=True, capture_output=True).stdout.decode()


# --- apt repository ------------------------------------------------------------------------------------------


def test_deb_uploaded_through_aptly_api_is_visible_to_apt(apt_repo: AptRepo, run_dir: Path, tmp_path: Path) -> None:
    assert apt_repo.root_dir.is_relative_to(run_dir)
    assert requests.get(f"{apt_repo.api_url}/api/version", timeout=5).json()["Version"].startswith("1.")
    with pytest.raises(AptError):  # nothing published under this distribution yet: apt-get update fails
        apt_repo.apt_get_visible("harness-hello", distribution="harness-empty")

    first = build_deb(tmp_path, "harness-hello", "1.0.0", "one\n")
    added = apt_repo.publish_deb(first, repo="harness")
    assert added == ["harness-hello_1.0.0_all added"]
    [key] = apt_repo.api("GET", "/repos/harness/packages")  # "P<arch> <name> <version> <hash>"
    assert key.startswith("Pall harness-hello 1.0.0 ")
    assert (apt_repo.root_dir / "public" / "pool" / "main" / "h" / "harness-hello" / first.name).is_file()

    fetched = apt_repo.apt_get_visible("harness-hello", "1.0.0")
    assert fetched is not None
    assert deb_field(fetched, "Version") == "1.0.0"
    assert deb_file(fetched, "./opt/harness-hello/VERSION") == "one\n"
    assert apt_repo.apt_get_visible("harness-hello", "2.0.0") is None
    assert apt_repo.apt_get_visible("harness-absent") is None

    # A second version goes through the "update the existing publication" path and both stay installable.
    apt_repo.publish_deb(build_deb(tmp_path, "harness-hello", "1.0.1", "two\n"), repo="harness")
    assert apt_repo.apt_versions("harness-hello") == ["1.0.1", "1.0.0"]
    assert "Candidate: 1.0.1" in apt_repo.apt_cache_policy("harness-hello")
    newest = apt_repo.apt_get_visible("harness-hello")
    assert newest is not None
    assert deb_file(newest, "./opt/harness-hello/VERSION") == "two\n"


def test_published_under_a_prefix_and_distribution_of_its_own(apt_repo: AptRepo, tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "harness-team", "0.1.0", "team\n")
    apt_repo.publish_deb(deb, repo="harness-team", distribution="team-dev", component="apps", prefix="teams/alpha")
    found = apt_repo.apt_get_visible(
        "harness-team", "0.1.0", distribution="team-dev", component="apps", prefix="teams/alpha"
    )
    assert found is not None
    assert (apt_repo.root_dir / "public" / "teams" / "alpha" / "dists" / "team-dev" / "Release").is_file()
    # The same package is not in the root publication.
    assert apt_repo.apt_get_visible("harness-team") is None


# --- git server ----------------------------------------------------------------------------------------------


def test_gitpython_clones_and_pushes_over_git_daemon(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo(
        "harness/app", {"default.json": '{"namespace": "harness"}\n', "bin/blob": b"\x00\x01\xff"}
    )
    assert url == f"git://127.0.0.1:{git_server.port}/harness/app.git"
    assert "harness/app" in git_server.repos()

    clone = git.Repo.clone_from(url, tmp_path / "clone")
    assert clone.active_branch.name == "main"
    assert (tmp_path / "clone" / "default.json").read_text() == '{"namespace": "harness"}\n'
    assert (tmp_path / "clone" / "bin" / "blob").read_bytes() == b"\x00\x01\xff"
    assert clone.head.commit.hexsha == git_server.head("harness/app")

    # A developer's push over git:// moves the server's branch.
    (tmp_path / "clone" / "README.md").write_text("hello\n")
    clone.index.add(["README.md"])
    author = git.Actor("dev", "dev@buildplat.invalid")
    pushed = clone.index.commit("Add README", author=author, committer=author)
    results = clone.remote("origin").push("main")
    assert not results[0].flags & git.PushInfo.ERROR, results[0].summary
    assert git_server.head("harness/app") == pushed.hexsha

    # The harness's own commit (with a deletion) arrives on the next fetch.
    sha = git_server.commit("harness/app", {"default.json": "{}\n"}, "Empty the spec", delete=["bin/blob"])
    assert sha == git_server.head("harness/app")
    clone.remote("origin").pull("main")
    assert clone.head.commit.hexsha == sha
    assert clone.head.commit.parents[0].hexsha == pushed.hexsha
    assert not (tmp_path / "clone" / "bin" / "blob").exists()
    assert (tmp_path / "clone" / "README.md").read_text() == "hello\n"

    git_server.delete_repo("harness/app")
    with pytest.raises(git.GitCommandError, match="no such repository"):
        git.Repo.clone_from(url, tmp_path / "gone")


def test_repo_on_another_branch_and_bad_names(git_server: GitServer) -> None:
    git_server.create_repo("harness-trunk", {"a.txt": "a\n"}, branch="trunk")
    first = git_server.head("harness-trunk")
    second = git_server.commit("harness-trunk", {"b.txt": "b\n"}, "Add b")
    assert second != first
    assert git_server.head("harness-trunk", branch="trunk") == second
    remote = git.cmd.Git().ls_remote(git_server.url("harness-trunk"))
    assert f"{second}\trefs/heads/trunk" in remote.splitlines()
    with pytest.raises(FileExistsError):
        git_server.create_repo("harness-trunk", {})
    for bad in ("../escape", "/abs", "a/../b", "x.git", "sp ace"):
        with pytest.raises(ValueError, match="bad repository name"):
            git_server.url(bad)


# --- Hubot ---------------------------------------------------------------------------------------------------

FAILURE = {
    "room": "#harness",
    "event": "pipeline",
    "app": "someproject/app",
    "version": "3.57.0",
    "stage": "deploy",
    "result": "failure",
    "reason": "ImagePullBackOff",
    "link": "https://jenkins.invalid/job/app/57/",
}


def test_notification_is_said_in_its_room(hubot: Hubot) -> None:
    hubot.clear()
    answer = hubot.post(FAILURE)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"ok": True}
    [message] = hubot.wait_for_messages(1)
    assert message["room"] == "#harness"
    assert message["text"] == (
        "❌ someproject/app 3.57.0: deploy failed — ImagePullBackOff https://jenkins.invalid/job/app/57/"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "room": "r",
                "event": "pipeline",
                "app": "ns/app",
                "version": "1.2.3",
                "stage": "verify",
                "result": "fixed",
            },
            "🔧 ns/app 1.2.3: verify is fixed",
        ),
        (
            {"room": "r", "event": "config", "repo": "git://git.invalid/ns/app.git", "errors": ["a:1:1: error: x"]},
            "⚠️ git://git.invalid/ns/app.git: default.json is invalid, 1 error: a:1:1: error: x",
        ),
        (
            {
                "room": "r",
                "event": "base-image",
                "app": "ns/app",
                "buildfact": "java",
                "old": {"version": "17.0.1", "digest": "sha256:" + "a" * 64},
                "new": {"version": "17.0.2", "digest": "sha256:" + "b" * 64},
                "tag": "3.57.0-base17.0.2",
            },
            "🧱 ns/app: java base image 17.0.1 (sha256:aaaaaaaaaaaa) → 17.0.2 (sha256:bbbbbbbbbbbb),"
            " tagged 3.57.0-base17.0.2",
        ),
    ],
    ids=["pipeline-fixed", "config", "base-image"],
)
def test_every_event_renders_one_line(hubot: Hubot, body: dict[str, object], expected: str) -> None:
    hubot.clear()
    answer = hubot.post(body)
    assert answer.status_code == 202, answer.text
    assert [m["text"] for m in hubot.wait_for_messages(1, room="r")] == [expected]


def test_config_errors_are_capped(hubot: Hubot) -> None:
    hubot.clear()
    errors = [f"default.json:{n}:1: error: bad {'x' * 500}" for n in range(1, 9)]
    answer = hubot.post({"room": "r", "event": "config", "app": "ns/app", "errors": errors})
    assert answer.status_code == 202, answer.text
    [message] = hubot.wait_for_messages(1)
    assert message["text"].startswith("⚠️ ns/app: default.json is invalid, 8 errors: default.json:1:1: error: bad x")
    assert message["text"].endswith("(and 3 more)")
    assert "default.json:6:1" not in message["text"]
    assert len(message["text"]) < 1500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**FAILURE, "room": 7}, "room: must be a string"),
        ({k: v for k, v in FAILURE.items() if k != "version"}, "version: is required"),
        ({**FAILURE, "event": "deploy"}, "event: must be one of"),
        ({**FAILURE, "result": "meh"}, "result: must be one of"),
        ({**FAILURE, "app": "NoSlash"}, "app: must be namespace/name"),
        ({**FAILURE, "link": "javascript:alert(1)"}, "link: must be an absolute http(s) URL"),
        ({**FAILURE, "reson": "typo"}, "reson: is not a field"),
        ({"room": "r", "event": "config", "app": "ns/a", "errors": "one"}, "errors: must be a list"),
        ({"room": "r", "event": "config", "app": "ns/a", "errors": ["ok", 3]}, "errors[1]: must be a string"),
        ({"room": "r", "event": "config", "errors": ["x"]}, "app: is required (or repo)"),
        ({"room": "r\u202e", "event": "config", "app": "ns/a", "errors": ["x"]}, "room: must not contain"),
        ([FAILURE], "body must be a JSON object"),
        (
            {"room": "r", "event": "base-image", "app": "ns/a", "buildfact": "java", "old": {}, "new": {}},
            "old.version: is required",
        ),
        (
            {
                "room": "r",
                "event": "base-image",
                "app": "ns/a",
                "buildfact": "java",
                "old": {"version": "1", "digest": "sha256:" + "a" * 64},
                "new": {"version": "2", "digest": "latest"},
            },
            "new.digest: must be an image digest",
        ),
    ],
)
def test_bad_body_gets_400_naming_the_field(hubot: Hubot, body: object, field: str) -> None:
    hubot.clear()
    answer = hubot.post(body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error"]
    assert hubot.messages() == []


def test_invalid_json_and_wrong_content_type(hubot: Hubot) -> None:
    headers = {"Authorization": f"Bearer {hubot.token}", "Content-Type": "application/json"}
    answer = requests.post(hubot.notify_url, data=b'{"room": ', headers=headers, timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {"error": "body: is not a valid JSON object"}
    headers["Content-Type"] = "text/plain"
    answer = requests.post(hubot.notify_url, data=json.dumps(FAILURE), headers=headers, timeout=10)
    assert answer.status_code == 415
    assert "Content-Type" in answer.json()["error"]


def test_oversized_body_and_failing_chat_adapter(hubot: Hubot) -> None:
    hubot.clear()
    answer = hubot.post({**FAILURE, "reason": "x" * 200_000})  # over Hubot's default 100 kB body limit
    assert answer.status_code == 413
    assert answer.json() == {"error": "body: is too large"}
    answer = hubot.post({**FAILURE, "room": FAILING_ROOM})
    assert answer.status_code == 502
    assert answer.json() == {"error": "the chat adapter failed to post the message"}
    assert hubot.messages() == []


@pytest.mark.parametrize("token", ["wrong", None])
def test_wrong_or_missing_token_gets_401(hubot: Hubot, token: str | None) -> None:
    hubot.clear()
    answer = hubot.post(FAILURE, token=token)
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing or wrong bearer token"}
    # Checked before the body: a broken body from a stranger learns nothing about the contract either.
    broken = requests.post(hubot.notify_url, data=b"{", headers={"Content-Type": "application/json"}, timeout=10)
    assert broken.status_code == 401
    assert hubot.messages() == []


def test_chat_markup_and_the_token_never_reach_the_room(hubot: Hubot) -> None:
    assert hubot.token
    hubot.clear()
    reason = (
        f"boom @here <!channel> [click](https://evil.invalid)\n\x1b[31mred\u202egnp token={hubot.token} " + "z" * 400
    )
    answer = hubot.post({**FAILURE, "reason": reason, "link": "https://jenkins.invalid/@channel"})
    assert answer.status_code == 202, answer.text
    [message] = hubot.wait_for_messages(1)
    text = message["text"]
    for leak in ("@here", "<!channel>", "](", "\n", "\x1b", "\u202e", "@channel", hubot.token):
        assert leak not in text
    # Fullwidth "@" and single angle quotes: read the same, mention and link nobody.
    assert "\uff20here \u2039!channel\u203a [click] (https://evil.invalid) [31mredgnp token=[redacted] zzz" in text
    assert "z" * 300 not in text  # the reason was cut to its cap
    assert text.endswith("… https://jenkins.invalid/%40channel")
    assert hubot.token not in hubot.record.read_text()
    assert hubot.token not in hubot.log_path.read_text()


def test_buildplat_hubot_client_speaks_the_route_contract(hubot: Hubot) -> None:
    hubot.clear()
    post_notification(hubot.url, hubot.token, {**FAILURE, "result": "success", "reason": "all green"}, backoff=())
    [message] = hubot.wait_for_messages(1)
    assert message["text"].startswith("✅ someproject/app 3.57.0: deploy succeeded — all green")


def test_health_route_answers_without_a_token(hubot: Hubot) -> None:
    answer = requests.get(f"{hubot.url}/buildplat/health", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"ok": True}


def test_room_is_required_unless_a_default_room_is_configured(hubot: Hubot, run_dir: Path) -> None:
    without_room = {k: v for k, v in FAILURE.items() if k != "room"}
    answer = hubot.post(without_room)
    assert answer.status_code == 400
    assert answer.json() == {"error": "room: is required"}

    # A second Hubot, as a team without a token but with its room configured would run it.
    robot, server = start_hubot(run_dir / "hubot-open", token=None, default_room="#team-builds")
    try:
        answer = robot.post(without_room, token=None)
        assert answer.status_code == 202, answer.text
        answer = robot.post(FAILURE, token=None)
        assert answer.status_code == 202, answer.text
        messages = robot.wait_for_messages(2)
        assert [m["room"] for m in messages] == ["#team-builds", "#harness"]
        assert messages[0]["text"].startswith("❌ someproject/app 3.57.0")
    finally:
        server.stop()
    assert not server.alive()
