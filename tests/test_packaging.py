"""What users install: the wheel carries the schemas, job templates and base images; validation stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.cli_helpers import REPO_ROOT

HEAVY = ("kubernetes", "docker", "jenkins", "jenkins_jobs", "requests", "git", "jsonschema", "yaml", "urllib3")


def test_validate_imports_no_heavy_library() -> None:
    """`buildplat validate` must start fast: none of the client libraries may be imported on its path."""
    probe = (
        "import sys\n"
        "from buildplat.cli import main\n"
        f"code = main(['validate', {str(REPO_ROOT / 'examples/sample-application')!r}])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(code, ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"


@pytest.mark.slow
def test_wheel_ships_schemas_templates_and_base_images(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(REPO_ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("buildplat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in ("default.schema.json", "platform.schema.json"):
        packaged = json.loads(zipfile.ZipFile(wheel).read(f"buildplat/data/schemas/{schema}"))
        assert packaged == json.loads((REPO_ROOT / "schemas" / schema).read_text())
    for template in sorted((REPO_ROOT / "job-templates").iterdir()):
        assert f"buildplat/data/job-templates/{template.name}" in names
    assert any(name.startswith("buildplat/data/base-images/python/") for name in names)
