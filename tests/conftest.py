"""Shared fixtures. Real servers live in tests/harness/ and are exposed as fixtures in tests/harness/fixtures.py."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The explicit list of harness modules whose fixtures every test can use.
pytest_plugins = [
    "tests.harness.fixtures",
    "tests.harness.docker",
    "tests.harness.registry",
    "tests.harness.kube",
    "tests.harness.aptly",
    "tests.harness.gitd",
    "tests.harness.hubot",
    "tests.harness.jenkins",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    """One directory per test run for every server's data and logs (kept when BUILDPLAT_KEEP_RUN_DIR is set)."""
    base = Path(os.environ.get("BUILDPLAT_TEST_TMP", tempfile.gettempdir()))
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="buildplat-test-", dir=base))
    yield path
    if not os.environ.get("BUILDPLAT_KEEP_RUN_DIR"):
        import shutil

        shutil.rmtree(path, ignore_errors=True)
