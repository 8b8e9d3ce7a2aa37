"""What ``buildplat run`` needs besides the stages: a build counter, and what git knows about the checkout.

The counter lives in ``<out>/build-number`` next to the flat apt repository it feeds, so versions grow with
every run for as long as that repository exists; deleting the output directory starts both over.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from buildplat import proc
from buildplat.errors import BuildplatError

COUNTER_FILE = "build-number"


def next_build_number(out: Path) -> int:
    """Increment and return the local build counter (1 on the first run)."""
    path = out / COUNTER_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = "0"
    if not text.isdigit():
        raise BuildplatError(
            f"the local build counter {path} holds {text[:20]!r}, not a number",
            hint="delete it (versions start again at build 1) or write the last build number into it",
        )
    number = int(text) + 1
    out.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=out, prefix=".build-number-")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(f"{number}\n")
    os.replace(temp, path)
    return number


def ignore_in_git(out: Path) -> None:
    """A ``.gitignore`` of ``*`` in the output directory (as pytest and mypy do with their caches), so a run
    inside a checkout leaves ``git status`` clean without anyone editing the repository's own ignore file."""
    path = out / ".gitignore"
    if not path.exists():
        path.write_text("# made by `buildplat run`: nothing in here belongs in git\n*\n", encoding="utf-8")


def git_revision(repo: Path) -> tuple[str | None, str | None]:
    """(commit, origin URL) of the checkout holding ``repo``, or Nones when it is not a git checkout."""
    if proc.which("git") is None:
        return None, None
    head = proc.run(["git", "-C", repo, "rev-parse", "--verify", "-q", "HEAD"], check=False)
    if head.returncode != 0:
        return None, None
    origin = proc.run(["git", "-C", repo, "config", "--get", "remote.origin.url"], check=False)
    url = origin.stdout.strip() if origin.returncode == 0 else ""
    return head.stdout.strip() or None, without_credentials(url) or None


def without_credentials(url: str) -> str:
    """``https://user:token@host/x.git`` -> ``https://host/x.git``: URLs end up in labels and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
