"""The Debian mirror this machine already uses, read at run time from its apt sources.

Both formats: one-line ``deb [options] URI SUITE COMPONENT…`` in ``/etc/apt/sources.list`` and
``sources.list.d/*.list``, and deb822 stanzas (``Types:``, ``URIs:``, ``Suites:``, ``Components:``,
``Enabled:``) in ``sources.list.d/*.sources``. No mirror's address is ever written into the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.errors import BuildplatError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Source:
    uri: str
    suite: str
    components: tuple[str, ...]
    file: str


def read_sources(apt_dir: Path = APT_DIR) -> list[Source]:
    """Every enabled ``deb`` (binary) source, in apt's reading order."""
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    found: list[Source] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found += _deb822(text, str(path)) if path.suffix == ".sources" else _one_line(text, str(path))
    return found


def debian_mirror(suite: str = "bookworm", apt_dir: Path = APT_DIR) -> str:
    """The URI of a source serving ``suite`` with ``main`` (``debootstrap`` takes it as its mirror)."""
    sources = [s for s in read_sources(apt_dir) if "main" in s.components and s.uri.startswith(("http", "file:"))]
    for source in sources:
        if source.suite == suite:
            return source.uri
    raise BuildplatError(
        f"no apt source on this machine serves Debian {suite} main "
        f"(read {apt_dir / 'sources.list'} and {apt_dir / 'sources.list.d'})",
        hint=f"add a line `deb http://<your Debian mirror>/debian {suite} main` to {apt_dir / 'sources.list'}",
    )


def _one_line(text: str, file: str) -> list[Source]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if len(words) < 3 or words[0] != "deb":
            continue
        if words[1].startswith("["):  # options: [arch=amd64 signed-by=…], possibly several words
            end = next((i for i, w in enumerate(words) if w.endswith("]")), None)
            if end is None:
                continue
            words = [words[0], *words[end + 1 :]]
        if len(words) >= 3:
            out.append(Source(words[1].rstrip("/"), words[2], tuple(words[3:]), file))
    return out


def _deb822(text: str, file: str) -> list[Source]:
    out = []
    for stanza in _stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no" or "deb" not in stanza.get("types", "").split():
            continue
        for uri in stanza.get("uris", "").split():
            for suite in stanza.get("suites", "").split():
                out.append(Source(uri.rstrip("/"), suite, tuple(stanza.get("components", "").split()), file))
    return out


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
        elif raw[0] in " \t" and last is not None:
            current[last] += " " + raw.strip()
        elif ":" in raw:
            key, _, value = raw.partition(":")
            last = key.strip().lower()
            current[last] = value.strip()
    return stanzas
