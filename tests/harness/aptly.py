"""A real apt repository for the tests: aptly's REST API plus a static HTTP server for what it publishes.

aptly 1.5's API manages repositories and publishes them into ``rootDir/public`` but does not serve that tree, so
a plain ``http.server`` process serves it the way nginx would in a team's namespace. aptly runs with its own
config file under the run directory (without ``-config`` it would write ``~/.aptly.conf``).

To prove that a package really reached apt users, :meth:`AptRepo.apt_get_visible` runs ``apt-get update`` and
``apt-get download`` against the published tree in a throwaway apt configuration: its own configuration (``APT_CONFIG``,
so nothing of ``/etc/apt`` applies), sources list, lists, cache and lock files; the machine's apt state is neither
read for sources nor changed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.harness import process

DISTRIBUTION = "bookworm"
COMPONENT = "main"
_TIMEOUT = 30


class AptError(RuntimeError):
    """apt-get or the aptly API said no; the message has the command or request and the full answer."""


def host_architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


class AptRepo:
    """aptly's API at ``api_url``; the published tree (``root_dir/public``) at ``public_url``."""

    def __init__(self, api_url: str, public_url: str, root_dir: Path, config_path: Path, scratch: Path) -> None:
        self.api_url = api_url
        self.public_url = public_url
        self.root_dir = root_dir
        self.config_path = config_path
        self._scratch = scratch

    # --- aptly API -------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, expect: Sequence[int] = (200, 201), **kwargs: Any) -> Any:
        """Call the aptly API (``path`` below ``/api``); returns the decoded JSON answer."""
        response = requests.request(method, f"{self.api_url}/api{path}", timeout=_TIMEOUT, **kwargs)
        if response.status_code not in expect:
            raise AptError(f"aptly {method} /api{path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def publish_deb(
        self,
        deb: Path,
        repo: str = "buildplat",
        distribution: str = DISTRIBUTION,
        component: str = COMPONENT,
        prefix: str = ".",
    ) -> list[str]:
        """Upload ``deb`` to local repo ``repo`` (made if missing) and (re)publish it; returns the added packages.

        Each step is a separate API call as a client would make it: upload to a file directory, add that directory
        to the repo, then publish (first time) or update the publication (afterwards), unsigned.
        """
        if repo not in {r["Name"] for r in self.api("GET", "/repos")}:
            body = {"Name": repo, "DefaultDistribution": distribution, "DefaultComponent": component}
            self.api("POST", "/repos", json=body)
        upload = f"upload-{secrets.token_hex(8)}"
        with deb.open("rb") as handle:
            self.api("POST", f"/files/{upload}", files={"file": (deb.name, handle)})
        report = self.api("POST", f"/repos/{repo}/file/{upload}")
        if report["FailedFiles"]:
            raise AptError(f"aptly could not add {deb.name}: {report}")
        added: list[str] = report["Report"]["Added"]
        api_prefix = _api_prefix(prefix)
        published = {(p["Prefix"], p["Distribution"]) for p in self.api("GET", "/publish")}
        signing = {"Skip": True}
        if (_prefix(prefix), distribution) in published:
            self.api("PUT", f"/publish/{api_prefix}/{distribution}", json={"Signing": signing})
        else:
            body = {
                "SourceKind": "local",
                "Sources": [{"Name": repo, "Component": component}],
                "Distribution": distribution,
                # A repo holding only "all" packages gives aptly no architecture to publish for.
                "Architectures": [host_architecture()],
                "Signing": signing,
            }
            self.api("POST", f"/publish/{api_prefix}", json=body)
        return added

    # --- what apt sees ---------------------------------------------------------------------------------------

    def sources_line(self, distribution: str = DISTRIBUTION, component: str = COMPONENT, prefix: str = ".") -> str:
        base = self.public_url if _prefix(prefix) == "." else f"{self.public_url}/{_prefix(prefix)}"
        return f"deb [trusted=yes] {base}/ {distribution} {component}"

    def apt_cache_policy(
        self, package: str, distribution: str = DISTRIBUTION, component: str = COMPONENT, prefix: str = "."
    ) -> str:
        """``apt-cache policy PACKAGE`` after ``apt-get update`` against this repository only."""
        with self._apt(distribution, component, prefix) as apt:
            return apt.run("apt-cache", "policy", package)

    def apt_versions(
        self, package: str, distribution: str = DISTRIBUTION, component: str = COMPONENT, prefix: str = "."
    ) -> list[str]:
        """Every version of ``package`` apt can see in this repository."""
        with self._apt(distribution, component, prefix) as apt:
            return apt.versions(package)

    def apt_get_visible(
        self,
        package: str,
        version: str | None = None,
        distribution: str = DISTRIBUTION,
        component: str = COMPONENT,
        prefix: str = ".",
    ) -> Path | None:
        """Whether apt can install ``package`` (at ``version``, default its candidate) from this repository.

        Returns the ``.deb`` that ``apt-get download`` fetched (a copy in the scratch area), or None when apt does
        not list that package/version. An ``apt-get update`` failure (nothing published there) raises AptError.
        """
        with self._apt(distribution, component, prefix) as apt:
            versions = apt.versions(package)
            if not versions or (version is not None and version not in versions):
                return None
            wanted = f"{package}={version}" if version else package
            apt.run("apt-get", "download", wanted, cwd=apt.downloads)
            debs = sorted(apt.downloads.glob(f"{package}_*.deb"))
            if len(debs) != 1:
                raise AptError(f"apt-get download {wanted} left {debs} in {apt.downloads}")
            kept = Path(tempfile.mkdtemp(prefix="deb-", dir=self._scratch)) / debs[0].name
            shutil.copy2(debs[0], kept)
            return kept

    def _apt(self, distribution: str, component: str, prefix: str) -> _ThrowawayApt:
        return _ThrowawayApt(self._scratch, self.sources_line(distribution, component, prefix))


class _ThrowawayApt:
    """An apt configuration of its own in a temporary directory, updated on entry and removed on exit."""

    def __init__(self, scratch: Path, sources_line: str) -> None:
        self._scratch = scratch
        self._sources_line = sources_line
        self.root = Path()
        self.downloads = Path()
        self.config = Path()

    def __enter__(self) -> _ThrowawayApt:
        self.root = Path(tempfile.mkdtemp(prefix="apt-", dir=self._scratch))
        for sub in ("lists/partial", "cache/archives/partial", "downloads"):
            (self.root / sub).mkdir(parents=True)
        self.downloads = self.root / "downloads"
        (self.root / "sources.list").write_text(self._sources_line + "\n", encoding="utf-8")
        self.config = self._write_config()
        self.run("apt-get", "update")
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _write_config(self) -> Path:
        # Read through APT_CONFIG, before the machine's files: pointing Dir::Etc::parts and ::main elsewhere means
        # /etc/apt/apt.conf.d (proxies, distro hooks, cache cleaners) plays no part in what these commands do.
        settings = {
            "Dir::Etc::parts": str(self.root / "apt.conf.d"),
            "Dir::Etc::main": "/dev/null",
            "Dir::Etc::sourcelist": str(self.root / "sources.list"),
            "Dir::Etc::sourceparts": "-",
            "Dir::Etc::preferencesparts": "-",
            "Dir::State::Lists": str(self.root / "lists"),
            "Dir::Cache": str(self.root / "cache"),
            # The run directory is private to root; apt's _apt download user could not write there.
            "APT::Sandbox::User": "root",
            "Acquire::Languages": "none",
        }
        path = self.root / "apt.conf"
        path.write_text("".join(f'{key} "{value}";\n' for key, value in settings.items()), encoding="utf-8")
        return path

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        argv = [tool, *args]
        env = {**os.environ, "APT_CONFIG": str(self.config), "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
        # apt-get update exits 0 on some fetch failures; "E:" / "W: Failed to fetch" lines are the real verdict.
        failed = result.returncode != 0 or re.search(r"^(E:|W: Failed to fetch)", result.stderr, re.MULTILINE)
        if failed:
            raise AptError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result.stdout

    def versions(self, package: str) -> list[str]:
        # madison prints " pkg | 1.2.3 | http://... bookworm/main amd64 Packages", one line per version and source.
        found = []
        for line in self.run("apt-cache", "madison", package).splitlines():
            parts = [part.strip() for part in line.split("|")]
            if len(parts) == 3 and parts[0] == package and parts[1] not in found:
                found.append(parts[1])
        return found


def _prefix(prefix: str) -> str:
    """A publish prefix as aptly reports it: "." for the root of the published tree."""
    return "." if prefix.strip("/") in ("", ".") else prefix.strip("/")


def _api_prefix(prefix: str) -> str:
    # aptly's URL form of a publish prefix: "." is ":.", and "/" inside a prefix is written "_" ("_" itself "__").
    prefix = _prefix(prefix)
    return ":." if prefix == "." else prefix.replace("_", "__").replace("/", "_")


def _write_config(path: Path, root_dir: Path) -> None:
    config = {
        "rootDir": str(root_dir),
        "architectures": [],
        "gpgDisableSign": True,
        "gpgDisableVerify": True,
        "skipContentsPublishing": True,
        "downloadConcurrency": 1,
        "FileSystemPublishEndpoints": {},
        "S3PublishEndpoints": {},
        "SwiftPublishEndpoints": {},
    }
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _http_ok(url: str) -> bool:
    return requests.get(url, timeout=1).status_code == 200


def start_apt_repo(root: Path) -> tuple[AptRepo, list[process.ManagedProcess]]:
    """Start aptly's API and the static server under ``root``; the caller stops the returned processes."""
    for tool in ("aptly", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            _missing(tool)
    root_dir = root / "aptly-root"
    public = root_dir / "public"
    public.mkdir(parents=True, exist_ok=True)
    scratch = root / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    config = root / "aptly.conf"
    _write_config(config, root_dir)

    api_port = process.free_port()
    api = process.ManagedProcess(
        name="aptly-api",
        argv=["aptly", "api", "serve", f"-config={config}", f"-listen=127.0.0.1:{api_port}", "-no-lock"],
        log_path=root / "aptly-api.log",
        env={**os.environ, "GIN_MODE": "release", "HOME": str(root)},  # HOME too: nothing lands in ~ by accident
        cwd=root,
    )
    api_url = f"http://127.0.0.1:{api_port}"
    api.start(ready=lambda: _http_ok(f"{api_url}/api/version"), timeout=30)

    web_port = process.free_port()
    web = process.ManagedProcess(
        name="apt-public-http",
        argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(public), str(web_port)],
        log_path=root / "apt-public-http.log",
        cwd=root,
    )
    public_url = f"http://127.0.0.1:{web_port}"
    try:
        web.start(ready=lambda: _http_ok(f"{public_url}/"), timeout=30)
    except process.StartupFailed:
        api.stop()
        raise
    return AptRepo(api_url, public_url, root_dir, config, scratch), [api, web]


def _missing(tool: str) -> None:
    message = f"{tool} is not installed: run scripts/install-test-deps"
    if os.environ.get("CI"):
        pytest.fail(message)  # in CI a missing tool is a broken install step, not a reason to skip
    pytest.skip(message)


@pytest.fixture(scope="session")
def apt_repo(run_dir: Path) -> Iterator[AptRepo]:
    """aptly's API and its published tree over HTTP, on 127.0.0.1, with all data under the run directory."""
    repo, servers = start_apt_repo(run_dir / "apt")
    try:
        yield repo
    finally:
        for server in reversed(servers):
            server.stop()
