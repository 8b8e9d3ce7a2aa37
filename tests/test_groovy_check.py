"""The Jenkinsfile compile check (tests/harness/groovy.py) against Debian's groovy."""

from __future__ import annotations

import shutil

import pytest

from tests.harness.groovy import GroovyCompileError, compile_jenkinsfile, compile_jenkinsfiles

pytestmark = pytest.mark.skipif(
    shutil.which("groovy") is None, reason="groovy is not installed (apt-get install -y groovy)"
)

DECLARATIVE = """\
pipeline {
  agent { kubernetes { yaml '''
apiVersion: v1
kind: Pod
''' } }
  options { timeout(time: 1, unit: 'HOURS') }
  environment { APP = 'hello' }
  stages {
    stage('build') { steps { sh 'buildplat step build' } }
    stage('deploy') {
      when { branch 'main' }
      steps { sh "buildplat step deploy --env ${env.APP}" }
    }
  }
  post { always { echo 'done' } }
}
"""
UNCLOSED = "pipeline {\n  agent any\n  stages { stage('x') { steps { sh 'buildplat step build' } }\n}\n"
BAD_IMPORT = "import no.such.Thing\npipeline { agent any }\n"


@pytest.fixture(scope="module")
def batch() -> dict[str, str | None]:
    """One JVM for several files, broken ones among them."""
    return compile_jenkinsfiles(
        {
            "apps/one/Jenkinsfile": DECLARATIVE,
            "apps/two/Jenkinsfile": UNCLOSED,
            "apps/three/Jenkinsfile": "pipeline { agent any; stages { stage('x') { steps { sh 'true' } } } }",
            "apps/four/Jenkinsfile": BAD_IMPORT,
        }
    )


def test_declarative_pipelines_compile(batch: dict[str, str | None]) -> None:
    assert batch["apps/one/Jenkinsfile"] is None
    assert batch["apps/three/Jenkinsfile"] is None


def test_each_broken_file_gets_its_own_errors(batch: dict[str, str | None]) -> None:
    assert batch["apps/two/Jenkinsfile"] == "apps/two/Jenkinsfile: 5: expecting '}', found '' @ line 5, column 1."
    four = batch["apps/four/Jenkinsfile"]
    assert four is not None
    assert four.startswith("apps/four/Jenkinsfile: 1: unable to resolve class no.such.Thing")


def test_compile_jenkinsfile_raises_with_the_compiler_message() -> None:
    with pytest.raises(GroovyCompileError, match=r"^Jenkinsfile: 5: expecting '}'"):
        compile_jenkinsfile(UNCLOSED)
    assert compile_jenkinsfiles({}) == {}
