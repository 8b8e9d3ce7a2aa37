"""The pieces under sync, without servers: canonical config comparison, the description marker, fingerprints,
the state store and the decisions of the reconciler."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from pathlib import Path

import pytest

from buildplat.clients.jenkins import FolderListing, JobEntry, item_path
from buildplat.jobs import marker
from buildplat.jobs.compare import canonical, config_diff, same_config, with_description, with_disabled
from buildplat.jobs.inputs import Credentials, JobTarget, fingerprint, source_digest
from buildplat.jobs.render import Renderer
from buildplat.jobs.templates import packaged_templates
from buildplat.spec.platform import Repository
from buildplat.sync.inventory import Fetched
from buildplat.sync.reconcile import Parsed, Reconciler
from buildplat.sync.state import StateStore
from tests.jenkins_double import xmlconfig
from tests.sync.helpers import app_doc, dump

VERSIONS = {"workflow-job": "1468.vcf4f5ee92395", "workflow-cps": "3996.va_f5c1799f978"}


def _rendered() -> str:
    from buildplat.jobs.inputs import JobInputs
    from buildplat.spec.model import load_app

    source = dump(app_doc("shop")).encode()
    item = JobInputs(load_app(source, "default.json"), source, JobTarget("team", "team", "git://x/shop.git"))
    (job,) = Renderer(packaged_templates()).render_jobs([item])
    return job.xml


def test_jenkins_rewrites_are_the_same_config() -> None:
    ours = _rendered()
    document = xmlconfig.parse(ours.encode())
    posted = xmlconfig.identity_transform(document).decode()
    saved = xmlconfig.xstream_save(document, VERSIONS).decode()
    assert posted != ours  # Jenkins never gives the bytes back
    assert saved != ours
    assert same_config(posted, ours)
    assert same_config(saved, ours)  # plugin="workflow-job@1468..." and re-indentation do not count
    assert same_config(with_disabled(ours, True), ours)  # a paused job is not an edited one
    edited = ours.replace("<numToKeep>30</numToKeep>", "<numToKeep>3</numToKeep>")
    assert not same_config(edited, ours)
    diff = config_diff(edited, ours, "team/shop")
    assert "-        <numToKeep>3</numToKeep>" in diff
    assert "+        <numToKeep>30</numToKeep>" in diff
    assert len([line for line in diff.splitlines() if line[:1] in "+-"]) == 4  # two headers, two lines


def test_orphan_mark_round_trips_and_keeps_the_rest() -> None:
    ours = _rendered()
    from buildplat.jobs.compare import description_of

    description = description_of(ours)
    assert description is not None
    changed = with_description(ours, marker.with_orphaned(description, 86400.0 * 3), disabled=True)
    found = marker.parse(description_of(changed))
    assert found is not None
    assert found.orphaned_since == 86400.0 * 3
    assert found.fingerprint == marker.parse(description).fingerprint  # type: ignore[union-attr]
    assert same_config(with_description(changed, description), ours)  # only the description was touched
    assert canonical(changed) != canonical(ours)
    assert marker.parse(description.replace("buildplat-fingerprint:", "fingerprint:")) is None


def test_unreadable_orphan_date_restarts_the_grace_period_instead_of_deleting() -> None:
    text = marker.job_description("x", repo="git://x/y.git", branch="main", fingerprint="ab")
    found = marker.parse(text + "\nbuildplat-orphaned-since: last tuesday")
    assert found is not None
    assert found.orphaned_since is None


def test_fingerprint_follows_every_input() -> None:
    target = JobTarget("team", "team", "git://x/shop.git")
    base = fingerprint(source_digest(b"{}"), target, "v1")
    assert fingerprint(source_digest(b"{}"), target, "v1") == base
    assert fingerprint(source_digest(b"{} "), target, "v1") != base
    assert fingerprint(source_digest(b"{}"), target, "v2") != base
    assert fingerprint(source_digest(b"{}"), dataclasses.replace(target, branch="dev"), "v1") != base
    other_credentials = dataclasses.replace(target, credentials=Credentials(kubernetes="kc"))
    assert fingerprint(source_digest(b"{}"), other_credentials, "v1") != base


def test_credentials_that_would_break_the_script_are_refused() -> None:
    from buildplat.errors import BuildplatError

    with pytest.raises(BuildplatError, match="invalid registry"):
        Credentials(registry="x', variable: 'EVIL")
    with pytest.raises(BuildplatError, match="invalid hubot token env"):
        Credentials(hubot_token_env="A;B")


def test_item_paths_are_percent_encoded() -> None:
    assert item_path("team", "a b/../c?x") == "job/team/job/a%20b%2F..%2Fc%3Fx/"
    assert item_path(None, "team") == "job/team/"


def test_state_store_survives_a_kill_between_transactions(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.remember_heads([("r#main", "abc", "sha", ("java",))])
    store.mark_written([("shop", "fp", "digest")], 10.0)
    # Another process holds a write transaction open and dies: ours must not see half of it.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE repos SET head = 'half'")
    other.close()  # closing without COMMIT rolls back, as a killed process does
    reopened = StateStore(path)
    assert reopened.repos()["r#main"].head == "abc"
    assert reopened.repos()["r#main"].facts == ("java",)
    assert reopened.jobs()["shop"].written == "digest"
    reopened.set_notified("r#main", "d1")
    assert reopened.repos()["r#main"].notified == "d1"
    reopened.forget_repos(set())
    assert reopened.repos() == {}
    store.close()
    reopened.close()


def _fetched(name: str, source: bytes | None = None, status: str = "ok") -> Fetched:
    repo = Repository(f"git://x/{name}.git")
    sha = source_digest(source) if source is not None else None
    return Fetched(repo, status, "c0ffee" if status == "ok" else None, sha, source, None if status == "ok" else "down")  # type: ignore[arg-type]


def _reconciler(now: float = 1000.0) -> Reconciler:
    from buildplat.spec.model import load_app

    def parse(item: Fetched) -> Parsed:
        assert item.source is not None
        return Parsed(load_app(item.source, "default.json"), item.source)

    return Reconciler(
        team="team",
        templates_version="v1",
        target_for=lambda item: JobTarget("team", "team", item.repo.url, item.repo.branch),
        parse=parse,
        grace_seconds=100.0,
        now=now,
    )


def _entry(name: str, repo: str, fp: str, *, since: float | None = None, color: str = "blue") -> JobEntry:
    text = marker.job_description("d", repo=repo, branch="main", fingerprint=fp) + marker.JJB_SUFFIX
    if since is not None:
        text = marker.with_orphaned(text, since)
    return JobEntry(name, text, color)


def test_an_unchanged_repository_is_not_even_parsed() -> None:
    source = dump(app_doc("shop")).encode()
    item = _fetched("shop", source)
    reconciler = _reconciler()
    fp = fingerprint(source_digest(source), reconciler.target_for(item), "v1")
    reconciler.parse = lambda _item: pytest.fail("parsed an unchanged repository")  # type: ignore[assignment]
    actions = reconciler.plan([item], FolderListing(None, (_entry("shop", item.repo.url, fp),)))
    assert [(a.kind, a.job) for a in actions] == [("unchanged", "shop")]


def test_an_existing_owner_keeps_its_name_whatever_the_config_order() -> None:
    source = dump(app_doc("shop")).encode()
    newcomer, owner = _fetched("copy", source), _fetched("shop", source)
    reconciler = _reconciler()
    fp = fingerprint(source_digest(source), reconciler.target_for(owner), "v1")
    actions = reconciler.plan([newcomer, owner], FolderListing(None, (_entry("shop", owner.repo.url, fp),)))
    by_repo = {a.repo: a.kind for a in actions}
    assert by_repo == {owner.key: "unchanged", newcomer.key: "rejected"}


def test_orphans_wait_for_the_grace_period() -> None:
    listing = FolderListing(None, (_entry("old", "git://x/old.git", "f", since=950.0),))
    assert [a.kind for a in _reconciler(now=1000.0).plan([], listing)] == ["unchanged"]
    assert [a.kind for a in _reconciler(now=1050.0).plan([], listing)] == ["delete"]
    fresh = FolderListing(None, (_entry("old", "git://x/old.git", "f"),))
    (disable,) = _reconciler(now=1000.0).plan([], fresh)
    assert (disable.kind, disable.orphaned_since) == ("disable", 1000.0)
    assert "no longer in the platform config" in disable.reason


def test_stop_flag_skips_fetches_not_started(tmp_path: Path) -> None:
    from buildplat.clients.git import Mirrors
    from buildplat.sync.inventory import Inventory

    stop = threading.Event()
    stop.set()
    inventory = Inventory(Mirrors(tmp_path), 2)
    results = dict(inventory.fetch_iter((Repository("git://127.0.0.1:1/x.git"),), {}, stop))
    assert results[0].status == "skipped"
    assert not (tmp_path / "mirrors").exists()
