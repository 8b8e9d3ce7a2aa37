"""pytest fixtures for the real components (registered from tests/conftest.py).

Each component module in tests/harness/ provides a session-scoped fixture here; a component's log is attached
to the report of any test that fails while it runs (see ``pytest_runtest_makereport``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import process


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for proc in process.running():
            report.sections.append((f"log of {proc.name} (pid {proc.pid}, {proc.log_path})", proc.log_tail()))
