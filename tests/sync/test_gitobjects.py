"""Reading files at a commit from the object store (buildplat.clients.gitobjects) gives what `git cat-file` gives.

Every case is a real repository made by git: loose objects, packs with offset deltas and with reference deltas,
an index forced to 64-bit offsets, a chain of many commits repacked aggressively; the reader's answer is compared
byte for byte with ``git cat-file blob``. What it does not read itself it must refuse (Unreadable), never guess.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from buildplat.clients.gitobjects import ObjectStore, Unreadable
from tests.harness.gitd import git, git_env


def _repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    git("init", "--quiet", "--initial-branch=main", str(work))
    return work


def _commit(work: Path, files: dict[str, bytes], message: str = "change") -> str:
    for relative, content in files.items():
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def _cat_file(git_dir: Path, commit: str, path: str) -> bytes | None:
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "blob", f"{commit}:{path}"],
        capture_output=True, env=git_env(), check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else None


def _similar_documents(rng: random.Random, count: int) -> list[bytes]:
    """default.json-like texts that differ a little from each other, so git stores them as deltas."""
    base = "".join(f'  "key{i}": "{rng.getrandbits(64):x}",\n' for i in range(200))
    documents = []
    for index in range(count):
        lines = base.splitlines(keepends=True)
        lines[rng.randrange(len(lines))] = f'  "changed{index}": {index},\n'
        documents.append(("{\n" + "".join(lines) + '  "end": true\n}\n').encode())
    return documents


def test_loose_objects_read_as_cat_file_reads_them(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    commit = _commit(work, {"default.json": b'{"a": 1}\n\n', "sub/dir/file.txt": b"no newline at the end"})
    with ObjectStore(work / ".git") as store:
        assert store.file_at(commit, "default.json") == _cat_file(work / ".git", commit, "default.json")
        assert store.file_at(commit, "default.json") == b'{"a": 1}\n\n'  # exact bytes: both newlines kept
        assert store.file_at(commit, "sub/dir/file.txt") == b"no newline at the end"
        assert store.file_at(commit, "missing.json") is None
        assert store.file_at(commit, "sub") is None  # a directory is not a file
        assert store.file_at(commit, "sub/dir/file.txt/x") is None
        with pytest.raises(Unreadable):
            store.file_at("0" * 40, "default.json")  # no such object: ask git


@pytest.mark.parametrize(
    "repack",
    [
        ("-c", "repack.useDeltaBaseOffset=true", "repack", "-a", "-d", "-f", "--depth=50", "--window=50"),
        ("-c", "repack.useDeltaBaseOffset=false", "repack", "-a", "-d", "-f", "--depth=50", "--window=50"),
        ("gc", "--aggressive", "--quiet", "--prune=now"),
    ],
    ids=["offset-deltas", "reference-deltas", "gc-aggressive"],
)
def test_packed_and_deltified_objects_read_as_cat_file_reads_them(tmp_path: Path, repack: tuple[str, ...]) -> None:
    rng = random.Random(4)
    work = _repo(tmp_path)
    commits = []
    for index, document in enumerate(_similar_documents(rng, 30)):
        files = {"default.json": document, f"apps/app{index % 5}/default.json": document[::-1]}
        commits.append(_commit(work, files, f"change {index}"))
    git(*repack, cwd=work)
    git_dir = work / ".git"
    assert not list((git_dir / "objects").glob("??/*")), "every object must be packed for this test"
    chains = git("verify-pack", "-v", *map(str, (git_dir / "objects/pack").glob("*.idx")), cwd=work)
    assert "chain length = " in chains  # there are deltas to resolve
    compared = 0
    with ObjectStore(git_dir) as store:
        for commit in commits:
            for path in ("default.json", *(f"apps/app{i}/default.json" for i in range(5))):
                expected = _cat_file(git_dir, commit, path)
                assert store.file_at(commit, path) == expected, (commit, path)
                compared += expected is not None
    assert compared == 30 + 5 * 30 - (1 + 2 + 3 + 4)  # the apps/appN files appear one commit after another


def test_an_index_with_64_bit_offsets_reads_the_same(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    commit = _commit(work, {"default.json": b'{"big": "pack"}\n'})
    git("repack", "-a", "-d", "--quiet", cwd=work)
    git_dir = work / ".git"
    (pack,) = (git_dir / "objects/pack").glob("*.pack")
    index = pack.with_suffix(".idx")
    index.unlink()
    # Every object's offset goes through the table of 64-bit offsets, as in a pack over 2 GiB.
    git("index-pack", "--index-version=2,0", "-o", str(index), str(pack), cwd=work)
    with ObjectStore(git_dir) as store:
        assert store.file_at(commit, "default.json") == b'{"big": "pack"}\n'


def test_what_it_does_not_read_itself_it_refuses(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    (work / "target.json").write_text("{}")
    (work / "default.json").symlink_to("target.json")
    commit = _commit(work, {})
    git_dir = work / ".git"
    with ObjectStore(git_dir) as store, pytest.raises(Unreadable, match="not a regular file"):
        store.file_at(commit, "default.json")  # git gives the link's target path; the caller asks git
    # A corrupted loose object does not read back as itself.
    blob = git("rev-parse", f"{commit}:target.json", cwd=work).strip()
    loose = git_dir / "objects" / blob[:2] / blob[2:]
    loose.chmod(0o644)
    import zlib

    loose.write_bytes(zlib.compress(b"blob 2\0[]"))
    with ObjectStore(git_dir) as store, pytest.raises(Unreadable, match="did not read back as itself"):
        store.file_at(commit, "target.json")
    sha256 = tmp_path / "sha256"
    git("init", "--quiet", "--bare", "--object-format=sha256", str(sha256))
    with pytest.raises(Unreadable, match="not a SHA-1 repository"):
        ObjectStore(sha256)


def test_the_mirror_reads_default_json_without_a_git_process_and_falls_back_to_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildplat.clients.git import Mirrors

    work = _repo(tmp_path)
    (work / "elsewhere.json").write_text('{"linked": true}')
    head = _commit(work, {"default.json": b'{"plain": true}\n'})
    mirrors = Mirrors(tmp_path / "mirrors")
    url = work.as_uri()
    assert mirrors.fetch(url, "main") == head
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))  # every git process started from here on says so in this file
    assert mirrors.read(url, "main", head, "default.json").content == b'{"plain": true}\n'
    assert mirrors.read(url, "main", head, "nothing.json").content is None
    assert not trace.exists() or "cat-file" not in trace.read_text()
    # A symbolic link is git's to read (it answers with the link's target, as it always did here).
    (work / "default.json").unlink()
    (work / "default.json").symlink_to("elsewhere.json")
    linked = _commit(work, {})
    assert mirrors.fetch(url, "main") == linked
    assert mirrors.read(url, "main", linked, "default.json").content == b"elsewhere.json"
    assert "cat-file" in trace.read_text()
