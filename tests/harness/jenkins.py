"""The Jenkins component of the test harness: the HTTP-level double (no real Jenkins can run here).

``jenkins_double`` (function scope) yields a :class:`tests.jenkins_double.JenkinsDouble` reset to a fresh Jenkins:
one server thread serves the whole session, each test gets empty state, a new admin API token, a cleared request
log and no faults. It needs no subprocess, so it is not marked slow. The test fails if the double itself crashed
while serving it (``internal_errors``), since that would be a bug in the double, not a Jenkins answer.

``jenkins_jobs_ini(target, path)`` writes a jenkins-job-builder ini file for any target with ``url``, ``user`` and
``token`` (the double or a real Jenkins).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.jenkins_double import JenkinsDouble


class JenkinsTarget(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def token(self) -> str: ...


@pytest.fixture(scope="session")
def jenkins_double_server() -> Iterator[JenkinsDouble]:
    double = JenkinsDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def jenkins_double(jenkins_double_server: JenkinsDouble) -> Iterator[JenkinsDouble]:
    jenkins_double_server.reset()
    yield jenkins_double_server
    errors = list(jenkins_double_server.internal_errors)
    jenkins_double_server.reset()
    assert not errors, "the Jenkins double crashed while serving this test:\n" + "\n".join(errors)


def jenkins_jobs_ini(target: JenkinsTarget, path: Path, *, query_plugins_info: bool = True) -> Path:
    """A ``jenkins_jobs.ini`` pointing jenkins-job-builder at ``target``."""
    lines = [
        "[job_builder]",
        "ignore_cache=False",
        "keep_descriptions=False",
        "",
        "[jenkins]",
        f"url={target.url}",
        f"user={target.user}",
        f"password={target.token}",
    ]
    if not query_plugins_info:
        lines.append("query_plugins_info=False")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
