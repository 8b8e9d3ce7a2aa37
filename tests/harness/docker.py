"""A private Docker engine (Debian's ``dockerd``) for the tests.

It keeps everything it owns under the run directory (data root, exec root, pidfile, socket, config) and touches the
host's network as little as it can: a bridge of its own (``bpdk<pid>``) on a free /24, no iptables rules, no NAT, no
ip_forward change. On stop it removes every container (kubelet's too), unmounts what is left under its directories
and deletes its bridge. Nothing can be pulled on these machines: base images come from ``import_busybox``.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness.process import ManagedProcess

DOCKER_CLI = "/usr/bin/docker"  # Debian's client; a newer one in /usr/local/bin may shadow it on PATH
BUSYBOX = "/bin/busybox"  # Debian's busybox-static
BRIDGE_PREFIX = "bpdk"


def unmount_under(root: Path) -> None:
    """Lazily unmount everything mounted at or below ``root``, deepest first (rmtree must never cross a mount)."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces and the like written as octal escapes.
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=False, capture_output=True, text=True)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 172.30.0.0/16 that no route on this host overlaps."""
    taken = []
    for line in _ip("-4", "-o", "route", "show", "table", "all").stdout.splitlines():
        with contextlib.suppress(ValueError, IndexError):
            taken.append(ipaddress.ip_network(line.split()[0], strict=False))
    start = os.getpid() % 250  # concurrent runs start their search in different places
    for i in range(256):
        candidate = ipaddress.ip_network(f"172.30.{(start + i) % 256}.0/24")
        if not any(candidate.overlaps(net) for net in taken if net.prefixlen > 0):
            return candidate
    raise RuntimeError("no free /24 in 172.30.0.0/16 for the test bridge")


def _reap_stale_bridges() -> None:
    """Delete bridges left by earlier runs that were killed too hard to clean up (their pid is gone)."""
    for line in _ip("-o", "link", "show", "type", "bridge").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        pid = name.removeprefix(BRIDGE_PREFIX)
        if name.startswith(BRIDGE_PREFIX) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _ip("link", "delete", name)


def _ping(sock_path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(str(sock_path))
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        return b" 200 " in sock.recv(1024).split(b"\r\n", 1)[0]


@dataclass
class DockerEngine:
    host: str
    env: dict[str, str]
    data_root: Path
    exec_root: Path
    bridge: str
    subnet: ipaddress.IPv4Network
    process: ManagedProcess
    _clients: list[Any] = field(default_factory=list, repr=False)

    def client(self) -> Any:
        """A ``docker.DockerClient`` for this engine (closed at session end)."""
        import docker

        client = docker.DockerClient(base_url=self.host, version="auto", timeout=120)
        self._clients.append(client)
        return client

    def cli(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run Debian's docker client against this engine; raises with its output when it fails."""
        result = subprocess.run(
            [DOCKER_CLI, *args], input=input, capture_output=True, env={**os.environ, **self.env}, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}")
        return result

    def import_busybox(self, tag: str, changes: Sequence[str] = ()) -> str:
        """Make ``tag`` a tiny base image: Debian's static busybox and its applets; returns the image id.

        ``changes`` are Dockerfile instructions applied on import, e.g. ``'CMD ["/bin/sh"]'``.
        """
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for directory in ("bin", "etc", "tmp", "root", "var", "var/www", "proc", "sys", "dev"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
                tar.addfile(info)
            tar.add(BUSYBOX, arcname="bin/busybox")
            applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
            for applet in applets:
                if applet != "busybox":
                    info = tarfile.TarInfo(f"bin/{applet}")
                    info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                    tar.addfile(info)
            for name, text in {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n"}.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        change_args = [arg for change in changes for arg in ("--change", change)]
        self.cli("import", *change_args, "-", tag, input=buffer.getvalue())
        return self.cli("image", "inspect", "--format", "{{.Id}}", tag).stdout.decode().strip()

    def build(self, context: Path, tag: str) -> str:
        """``docker build`` (classic builder, host network so RUN can reach loopback servers); returns the image id."""
        self.cli("build", "--quiet", "--network=host", "--tag", tag, str(context))
        return self.cli("image", "inspect", "--format", "{{.Id}}", tag).stdout.decode().strip()

    def push(self, ref: str) -> str:
        """``docker push`` ``ref`` (``HOST/REPO:TAG``); returns the manifest digest the registry now holds."""
        self.cli("push", ref)
        repo = ref.rsplit(":", 1)[0]
        digests = json.loads(self.cli("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout)
        return next(d.split("@", 1)[1] for d in digests if d.startswith(repo + "@"))

    def remove_containers(self, name_prefix: str = "") -> None:
        """Force-remove containers (all, or those whose name starts with ``name_prefix``) and their volumes."""
        listed = self.cli("ps", "-a", "--format", "{{.ID}} {{.Names}}", check=False).stdout.decode().split("\n")
        ids = [line.split()[0] for line in listed if line.strip() and line.split()[1].startswith(name_prefix)]
        if ids:
            self.cli("rm", "-f", "-v", *ids, check=False)

    def close_clients(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()


def start_engine(base: Path) -> DockerEngine:
    """Start dockerd with every path under ``base``; the caller stops ``engine.process``."""
    base.mkdir(parents=True, exist_ok=True)
    _reap_stale_bridges()
    data_root, exec_root, sock = base / "data", base / "exec", base / "docker.sock"
    config = base / "daemon.json"
    config.write_text("{}\n")  # never the host's /etc/docker/daemon.json
    bridge, subnet = f"{BRIDGE_PREFIX}{os.getpid()}", _free_subnet()
    gateway = f"{next(subnet.hosts())}/{subnet.prefixlen}"
    _ip("link", "delete", bridge)  # a leftover of this very pid number
    for args in (("link", "add", bridge, "type", "bridge"), ("addr", "add", gateway, "dev", bridge)):
        done = _ip(*args)
        if done.returncode != 0:
            _ip("link", "delete", bridge)
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr}")
    _ip("link", "set", bridge, "up")
    argv = [
        "dockerd",
        f"--config-file={config}",
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={base / 'dockerd.pid'}",
        f"--host=unix://{sock}",
        "--storage-driver=overlay2",
        f"--bridge={bridge}",
        # No iptables/NAT/forwarding: nothing global to undo; host<->container traffic stays on the bridge.
        "--iptables=false",
        "--ip-masq=false",
        "--ip-forward=false",
        "--oom-score-adjust=0",  # the default (-500) needs CAP_SYS_RESOURCE, which these machines lack
        "--log-level=warn",
    ]
    host = f"unix://{sock}"
    env = {"DOCKER_HOST": host, "DOCKER_CONFIG": str(base / "client")}
    process = ManagedProcess("dockerd", argv, base / "dockerd.log")
    engine = DockerEngine(host, env, data_root, exec_root, bridge, subnet, process)

    def before_stop() -> None:
        engine.close_clients()
        engine.remove_containers()

    def after_stop() -> None:
        unmount_under(base)
        _ip("link", "delete", bridge)

    process.before_stop, process.after_stop = before_stop, after_stop
    try:
        process.start(ready=lambda: _ping(sock), timeout=60)
    except BaseException:
        process.stop()
        raise
    return engine


@pytest.fixture(scope="session")
def docker_engine(run_dir: Path) -> Iterator[DockerEngine]:
    """A private dockerd for the session; see ``DockerEngine`` for what it offers."""
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root (run the suite as root, as CI does)")
    if shutil.which("dockerd") is None or not Path(DOCKER_CLI).exists():
        pytest.skip("dockerd is not installed: run scripts/install-test-deps")
    engine = start_engine(run_dir / "docker")
    try:
        yield engine
    finally:
        engine.process.stop(grace=30)
