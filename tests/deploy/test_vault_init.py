"""The vault-init Job's script against a fake Vault and a fake Kubernetes API on 127.0.0.1.

It must initialise once with one share per admin, unseal every replica, store each share encrypted for its admin
(and only decryptable by that admin), revoke the root token, and never put a clear share or the root token in its
output or in a file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import CLUSTER

SCRIPT = CLUSTER / "base" / "vault" / "init.sh"
ADMINS = ("alice", "bob", "carol")
REPLICAS = ("r0", "r1", "r2")

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("gpg", "jq", "curl", "sh")), reason="needs gpg, jq and curl"
)


@dataclass
class FakeVault:
    """Three replicas under /r0, /r1, /r2 sharing one storage, plus the Kubernetes ConfigMap endpoint."""

    threshold_seen: int = 0
    shares: list[str] = field(default_factory=list)
    root_token: str = ""
    initialized: bool = False
    unseal_keys: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in REPLICAS})
    revoked: bool = False
    configmaps: list[dict[str, Any]] = field(default_factory=list)
    threshold: int = 0

    def sealed(self, replica: str) -> bool:
        return not self.initialized or len(self.unseal_keys[replica]) < self.threshold


def make_handler(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: Any = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")

        def route(self) -> tuple[str, str]:
            replica, _, path = self.path.lstrip("/").partition("/")
            return replica, "/" + path

        def do_GET(self) -> None:
            replica, path = self.route()
            if path == "/v1/sys/init":
                self.reply(200, {"initialized": vault.initialized})
            elif path == "/v1/sys/seal-status":
                self.reply(200, {"sealed": vault.sealed(replica), "t": vault.threshold})
            else:
                self.reply(404, {"errors": [path]})

        def do_PUT(self) -> None:
            replica, path = self.route()
            request = self.body()
            if path == "/v1/sys/init" and replica == "r0" and not vault.initialized:
                vault.threshold = request["secret_threshold"]
                vault.shares = [
                    base64.b64encode(secrets.token_bytes(33)).decode() for _ in range(request["secret_shares"])
                ]
                vault.root_token = "hvs." + secrets.token_urlsafe(18)
                vault.initialized = True
                hexes = [base64.b64decode(s).hex() for s in vault.shares]
                self.reply(200, {"keys": hexes, "keys_base64": vault.shares, "root_token": vault.root_token})
            elif path == "/v1/sys/unseal" and request["key"] in vault.shares:
                vault.unseal_keys[replica].add(request["key"])
                self.reply(200, {"sealed": vault.sealed(replica)})
            else:
                self.reply(400, {"errors": ["bad request"]})

        def do_POST(self) -> None:
            _, path = self.route()
            if path == "/v1/auth/token/revoke-self" and self.headers.get("X-Vault-Token") == vault.root_token:
                vault.revoked = True
                self.reply(204)
            elif self.path == "/api/v1/namespaces/vault/configmaps":
                assert self.headers.get("Authorization") == "Bearer sa-token"
                vault.configmaps.append(self.body())
                self.reply(201, {})
            else:
                self.reply(403, {"errors": ["denied"]})

    return Handler


@pytest.fixture
def fake() -> Iterator[tuple[FakeVault, str]]:
    vault = FakeVault()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(vault))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield vault, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def gpg(home: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--quiet", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def admin_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """Each admin's public key in a shared directory and a private keyring per admin."""
    base = tmp_path_factory.mktemp("admins")
    public = base / "public"
    public.mkdir()
    keyrings = {}
    for admin in ADMINS:
        home = base / f"home-{admin}"
        home.mkdir(mode=0o700)
        uid = f"{admin} <{admin}@example.invalid>"
        gpg(
            home,
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
            "--quick-generate-key",
            uid,
            "ed25519",
            "cert",
            "never",
        )
        fingerprint = gpg(home, "--with-colons", "--list-keys", uid).split("fpr:::::::::")[1].split(":")[0]
        gpg(
            home,
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
            "--quick-add-key",
            fingerprint,
            "cv25519",
            "encr",
            "never",
        )
        (public / f"{admin}.asc").write_text(gpg(home, "--armor", "--export", uid))
        keyrings[admin] = home
    return public, keyrings


def run_script(tmp_path: Path, url: str, admins_dir: Path, threshold: int) -> subprocess.CompletedProcess[str]:
    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "threshold").write_text(str(threshold))
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "namespace").write_text("vault")
    (sa / "ca.crt").write_text("")
    for name in ("work", "gnupg"):
        (tmp_path / name).mkdir(mode=0o700)
    env = {
        "PATH": os.environ["PATH"],
        "VAULT_ADDRS": " ".join(f"{url}/{replica}" for replica in REPLICAS),
        "ADMINS_DIR": str(admins_dir),
        "SETTINGS_DIR": str(settings),
        "SA_DIR": str(sa),
        "KUBE_API": url,
        "WORK_DIR": str(tmp_path / "work"),
        "GNUPGHOME": str(tmp_path / "gnupg"),
        "WAIT_TRIES": "3",
        "WAIT_SECONDS": "0",
    }
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_init_unseals_all_and_hands_each_admin_only_their_encrypted_share(
    tmp_path: Path, fake: tuple[FakeVault, str], admin_keys: tuple[Path, dict[str, Path]]
) -> None:
    vault, url = fake
    public, keyrings = admin_keys
    done = run_script(tmp_path, url, public, threshold=2)
    assert done.returncode == 0, done.stderr
    assert len(vault.shares) == 3
    assert vault.threshold == 2
    assert not any(vault.sealed(replica) for replica in REPLICAS)
    assert vault.revoked

    (configmap,) = vault.configmaps
    assert configmap["metadata"]["name"] == "vault-unseal-keys"
    assert sorted(configmap["data"]) == [f"{admin}.asc" for admin in ADMINS]
    for index, admin in enumerate(ADMINS):
        message = configmap["data"][f"{admin}.asc"]
        assert message.startswith("-----BEGIN PGP MESSAGE-----")
        assert gpg(keyrings[admin], "--decrypt", stdin=message) == vault.shares[index]
        other = keyrings[ADMINS[(index + 1) % len(ADMINS)]]
        with pytest.raises(subprocess.CalledProcessError):
            gpg(other, "--decrypt", stdin=message)

    clear = [*vault.shares, vault.root_token, *(base64.b64decode(s).hex() for s in vault.shares)]
    output = done.stdout + done.stderr
    assert "BEGIN PGP MESSAGE" in output  # the encrypted shares are also in the Job's log, as a fallback
    for secret in clear:
        assert secret not in output
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path


def test_second_run_leaves_an_initialised_vault_alone(
    tmp_path: Path, fake: tuple[FakeVault, str], admin_keys: tuple[Path, dict[str, Path]]
) -> None:
    vault, url = fake
    vault.initialized = True
    done = run_script(tmp_path, url, admin_keys[0], threshold=2)
    assert done.returncode == 0, done.stderr
    assert "already initialised" in done.stderr
    assert vault.configmaps == []


def test_refuses_a_threshold_above_the_number_of_admins(
    tmp_path: Path, fake: tuple[FakeVault, str], admin_keys: tuple[Path, dict[str, Path]]
) -> None:
    vault, url = fake
    done = run_script(tmp_path, url, admin_keys[0], threshold=4)
    assert done.returncode == 1
    assert "threshold 4" in done.stderr
    assert not vault.initialized


def test_refuses_an_unusable_admin_key_before_initialising(tmp_path: Path, fake: tuple[FakeVault, str]) -> None:
    vault, url = fake
    admins = tmp_path / "bad-admins"
    admins.mkdir()
    (admins / "mallory.asc").write_text("not a key\n")
    (admins / "trent.asc").write_text("not a key either\n")
    done = run_script(tmp_path, url, admins, threshold=2)
    assert done.returncode == 1
    assert "not a usable public encryption key" in done.stderr
    assert not vault.initialized
