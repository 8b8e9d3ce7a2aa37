"""Fixtures of the seed-job tests: a team whose Jenkins is the double and whose repositories are local bare repos."""

from __future__ import annotations

import pytest

from buildplat.buildfacts import registry
from tests.jenkins_double import JenkinsDouble
from tests.jenkins_double.plugins import Plugin
from tests.sync.helpers import LocalRepos, Team


def stock_update_center(double: JenkinsDouble) -> None:
    """Let the double's update center offer every plugin buildplat asks for, as the real one does."""
    for name in registry.jenkins_plugins(sorted(registry.BUILDFACTS)):
        double.plugins.catalog.setdefault(name, Plugin(name, "1.0", name))


@pytest.fixture
def team(tmp_path, jenkins_double: JenkinsDouble, monkeypatch: pytest.MonkeyPatch) -> Team:
    monkeypatch.setenv("BUILDPLAT_JENKINS_USER", jenkins_double.user)
    monkeypatch.setenv("BUILDPLAT_JENKINS_TOKEN", jenkins_double.token)
    stock_update_center(jenkins_double)
    return Team(tmp_path, jenkins_double.url, LocalRepos(tmp_path))
