"""Bare mirrors of the team's repositories, fetched with GitPython; files read at a branch head without a checkout.

One bare repository per repository URL under the mirror root (named by a digest of the URL, so no URL text ever
becomes a path). A fetch updates only the configured branch and costs one git process; default.json at a commit is
read from the object store without one (:mod:`buildplat.clients.gitobjects`), and only when the head moved.
Failures are split in two: :class:`RepoGone` when the server answered that the repository or branch does not exist
(the app went away), a retryable :class:`~buildplat.errors.ServiceError` for everything else (the server is down:
keep what we have).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git
from git.refs.symbolic import SymbolicReference

from buildplat.clients.gitobjects import ObjectStore, Unreadable
from buildplat.errors import ServiceError

SERVICE = "git"
# What git prints when the server answered and said no (as opposed to not answering at all).
_GONE = re.compile(
    r"does not appear to be a git repository|repository not exported|repository '.*' not found|"
    r"couldn't find remote ref|not found: did you run git update-server-info|no such repository",
    re.IGNORECASE,
)
# cat-file's words for "there is no such file at that commit" (or it is a directory).
_NO_FILE = re.compile(r"does not exist in|exists on disk, but not in|bad file|Not a valid object name", re.IGNORECASE)
# Never ask a person for a password: a seed job has no terminal, and a prompt would hang the cycle.
_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "GIT_SSH_COMMAND": "ssh -oBatchMode=yes",
}


class RepoGone(ServiceError):
    """The server says the repository (or the branch) does not exist."""


@dataclass(frozen=True)
class FileAtHead:
    head: str  # the commit the branch points at
    content: bytes | None  # None: no such file at that commit


class Mirrors:
    """The mirror root: ``<root>/<digest of URL and branch>.git``, one bare repository per configured branch (two
    branches of one repository fetched at once into one shallow mirror would fight over its ``shallow`` lock)."""

    def __init__(self, root: Path, *, timeout: float = 300.0) -> None:
        self.root = root
        self.timeout = timeout

    def path(self, url: str, branch: str) -> Path:
        return self.root / (hashlib.sha256(f"{url}#{branch}".encode()).hexdigest()[:24] + ".git")

    def fetch(self, url: str, branch: str) -> str:
        """Bring the mirror's ``branch`` up to the server's and return its head commit.

        An existing mirror asks the server for the branch head first (``ls-remote``, a third of the cost of a fetch
        that finds nothing new, which is what almost every repository is in almost every cycle) and fetches only if
        it moved. A new mirror is fetched straight away.
        """
        path = self.path(url, branch)
        ref = f"refs/heads/{branch}"
        new = not path.is_dir()
        try:
            if new:
                self._create(path)
            repo = git.Repo(path)
        except (OSError, git.GitError) as exc:
            raise ServiceError(SERVICE, f"cannot make the mirror of {url} in {path}: {exc}", retryable=True) from exc
        try:
            local = _local_head(repo, ref)
            if local is not None and self._remote_head(repo, url, ref) == local:
                return local
            # A new mirror has nothing to maintain: skip the `git maintenance` process a fetch starts after itself
            # (one process in five of a first sync); later fetches keep it, so old heads get pruned.
            extra = ("--no-auto-maintenance",) if new else ()
            try:
                # Only the head matters (its default.json): history would cost a full clone per repository.
                self._fetch(repo, url, f"+{ref}:{ref}", "--depth=1", *extra)
            except git.GitCommandError as exc:
                if "shallow" not in _output(exc):
                    raise
                self._fetch(repo, url, f"+{ref}:{ref}", *extra)  # a dumb HTTP server cannot serve a shallow fetch
            head = _local_head(repo, ref)
            if head is None:
                raise ServiceError(SERVICE, f"fetching {url} left no {ref} in its mirror", retryable=True)
            return head
        except git.GitCommandError as exc:
            text = _output(exc)
            detail = " ".join(line.strip() for line in text.splitlines() if line.strip())[-400:]
            if exc.status == 2 and exc.command[1:2] == ["ls-remote"]:
                raise RepoGone(SERVICE, f"{url}: the branch {branch} no longer exists") from exc
            if _GONE.search(text):
                raise RepoGone(SERVICE, f"{url} (branch {branch}): {detail}") from exc
            raise ServiceError(SERVICE, f"cannot fetch {url}: {detail or exc}", retryable=True) from exc
        finally:
            repo.close()

    def _remote_head(self, repo: git.Repo, url: str, ref: str) -> str:
        # --exit-code: status 2 when the server has no such branch (instead of printing nothing).
        out = repo.git.ls_remote("--exit-code", "--", url, ref, env=_ENV, kill_after_timeout=self.timeout)
        return str(out).split("\t", 1)[0].strip()

    def _fetch(self, repo: git.Repo, url: str, refspec: str, *options: str) -> None:
        # --no-write-fetch-head: FETCH_HEAD is of no use to us and would be one more file written per fetch.
        repo.git.fetch(
            "--quiet", "--no-tags", "--no-write-fetch-head", *options, "--", url, refspec,
            env=_ENV, kill_after_timeout=self.timeout,
        )  # fmt: skip

    def read(self, url: str, branch: str, commit: str, file: str) -> FileAtHead:
        """``file`` (at the repository root) at ``commit`` in the mirror; content None if it is not a file there.

        Read from the object store directly (:mod:`.gitobjects`, every object checked against its name), or, for
        what that does not read itself, by ``git cat-file``.
        """
        try:
            with ObjectStore(self.path(url, branch)) as store:
                return FileAtHead(commit, store.file_at(commit, file))
        except Unreadable:
            pass
        try:
            repo = git.Repo(self.path(url, branch))
        except (OSError, git.GitError) as exc:
            raise ServiceError(SERVICE, f"cannot open the mirror of {url}: {exc}", retryable=True) from exc
        try:
            # GitPython strips a final newline by default; the digest of default.json must be of its exact bytes.
            data = repo.git.cat_file(
                "blob", f"{commit}:{file}", stdout_as_string=False, strip_newline_in_stdout=False, env=_ENV
            )
        except git.GitCommandError as exc:
            text = _output(exc)
            if _NO_FILE.search(text):
                return FileAtHead(commit, None)
            raise ServiceError(SERVICE, f"cannot read {file} from the mirror of {url}: {text}", retryable=True) from exc
        finally:
            repo.close()
        return FileAtHead(commit, bytes(data))

    def prune(self, keep: set[tuple[str, str]]) -> list[Path]:
        """Delete the mirrors of (URL, branch) pairs no longer configured; returns what was removed."""
        if not self.root.is_dir():
            return []
        kept = {self.path(url, branch).name for url, branch in keep}
        removed = []
        for entry in self.root.iterdir():
            if entry.name.endswith(".git") and entry.name not in kept:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def _create(self, path: Path) -> None:
        # Made beside its final place and renamed into it, so a killed sync never leaves half a mirror there.
        self.root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".new-", dir=self.root))
        try:
            _bare_skeleton(temp)
            os.replace(temp, path)
        except OSError:
            shutil.rmtree(temp, ignore_errors=True)
            if not path.is_dir():  # another worker (or seed job) made it first: fine
                raise


def _local_head(repo: git.Repo, ref: str) -> str | None:
    """The commit ``ref`` points at in the mirror, read from the ref file itself: no git process."""
    try:
        return str(SymbolicReference.dereference_recursive(repo, ref))
    except (OSError, ValueError):
        return None


def _bare_skeleton(path: Path) -> None:
    """The files ``git init --bare`` would write that git needs to recognise a repository, without a process.

    A first sync creates one mirror per repository, and starting ``git init`` for each cost a fifth of its git
    time. This is the stable, documented minimum of a repository (gitrepository-layout(5)); the first fetch fills
    in the rest.
    """
    for directory in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
        (path / directory).mkdir(parents=True, exist_ok=True)
    (path / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    # git's automatic gc stays on: old heads of a shallow mirror become unreachable and are pruned by it.
    (path / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n", encoding="utf-8"
    )


def _output(exc: git.GitCommandError) -> str:
    # GitPython wraps the streams as "\n  stderr: '...'"; keep only git's own words.
    text = f"{exc.stderr or ''}\n{exc.stdout or ''}"
    return re.sub(r"^\s*(stderr|stdout): '|'\s*$", "", text.strip(), flags=re.MULTILINE)


def origin_url(checkout: Path) -> str | None:
    """The ``origin`` remote of the git checkout holding ``checkout``, if there is one, without credentials."""
    try:
        repo = git.Repo(checkout, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        return public_url(str(repo.remotes.origin.url)) if "origin" in repo.remotes else None
    finally:
        repo.close()


def public_url(url: str) -> str:
    """``url`` without credentials, fit for a job's XML or a log.

    An http(s):// or git:// URL loses its user part whole (a token is often written as the user name); an ssh://
    URL keeps the login user, which is no secret, and loses any password.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url
    if scheme.lower() == "ssh":
        return f"{scheme}://{userinfo.split(':', 1)[0]}@{host}{slash}{path}"
    return f"{scheme}://{host}{slash}{path}"
