"""The Terraform module deploy/terraform/cluster: parses, documents every variable and output, hard-codes no
region or zone, uses every variable, and has the pieces the multi-AZ design needs.

The terraform binary, when installed, checks formatting (`terraform fmt -check`); `terraform validate` needs the
AWS provider from the Terraform registry, which cannot be reached here, so the structure is checked by parsing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.deploy.conftest import TERRAFORM

FILES = sorted(TERRAFORM.glob("*.tf"))


def unquote(value: Any) -> Any:
    return value[1:-1] if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' else value


def blocks(kind: str) -> dict[str, dict[str, Any]]:
    """name -> body of every top-level block of ``kind`` (variable, output)."""
    found: dict[str, dict[str, Any]] = {}
    for path in FILES:
        for block in hcl2.load(path.open()).get(kind, []):
            for name, body in block.items():
                found[unquote(name)] = body
    return found


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in FILES:
        for block in hcl2.load(path.open()).get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found[(unquote(rtype), unquote(name))] = body
    return found


def test_every_file_parses() -> None:
    assert {p.name for p in FILES} >= {"variables.tf", "outputs.tf", "versions.tf"}
    for path in FILES:
        assert isinstance(hcl2.load(path.open()), dict), path


def test_terraform_fmt_check() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed (nor downloadable here); files are only parsed")
    done = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_variable_and_output_is_described() -> None:
    variables, outputs = blocks("variable"), blocks("output")
    assert len(variables) >= 10
    assert len(outputs) >= 8
    for name, body in {**variables, **outputs}.items():
        assert len(unquote(body.get("description", ""))) > 10, f"{name} has no description"


def test_every_variable_is_used() -> None:
    text = "\n".join(p.read_text() for p in FILES if p.name != "variables.tf")
    for name in blocks("variable"):
        assert re.search(rf"\bvar\.{name}\b", text), f"variable {name} is never used"


def test_no_region_or_zone_is_hard_coded() -> None:
    pattern = re.compile(r"\b(us|eu|ap|sa|ca|me|af|il)-(east|west|north|south|central|northeast|southeast)-\d[a-z]?\b")
    for path in [*FILES, *(TERRAFORM / "templates").iterdir()]:
        assert not pattern.search(path.read_text()), path
    text = "".join(path.read_text() for path in FILES)
    assert not re.search(r'provider\s+"aws"', text)  # the caller's provider block chooses the region
    assert not re.search(r"\bregion\s*=", text)


def test_network_spans_three_zones_with_nat() -> None:
    found = resources()
    assert unquote(found[("aws_subnet", "public")]["count"]) == "${length(local.zones)}"
    assert found[("aws_subnet", "public")]["map_public_ip_on_launch"] is True
    assert "map_public_ip_on_launch" not in found[("aws_subnet", "private")]
    assert ("aws_nat_gateway", "this") in found
    zones = blocks("variable")["availability_zones"]["validation"][0]["condition"]
    assert "length(var.availability_zones) == 3" in zones


def test_security_groups_admit_only_the_vpc_and_the_listeners() -> None:
    found = resources()
    nodes = found[("aws_security_group", "nodes")]
    for rule in nodes["ingress"]:
        assert rule["cidr_blocks"] == ["${var.vpc_cidr}"]
    listeners = found[("aws_security_group", "lb_listeners")]
    assert sorted(rule["from_port"] for rule in listeners["ingress"]) == [80, 443]
    assert all(rule["from_port"] == rule["to_port"] for rule in listeners["ingress"])


def test_control_plane_group_is_one_node_that_restores_etcd() -> None:
    found = resources()
    group = found[("aws_autoscaling_group", "control_plane")]
    assert (group["min_size"], group["max_size"]) == (1, 1)
    template = found[("aws_launch_template", "control_plane")]
    assert "control-plane.sh.tftpl" in template["user_data"]
    script = (TERRAFORM / "templates" / "control-plane.sh.tftpl").read_text()
    assert "snapshot restore" in script
    assert "aws s3 cp" in script
    workers = found[("aws_autoscaling_group", "workers")]
    assert workers["vpc_zone_identifier"] == "${aws_subnet.private[*].id}"
    lb_nodes = found[("aws_autoscaling_group", "lb_nodes")]
    assert lb_nodes["vpc_zone_identifier"] == "${aws_subnet.public[*].id}"
    assert "node-role.buildplat.dev/loadbalancer=true" in Path(TERRAFORM / "compute.tf").read_text()


def test_etcd_backup_bucket_is_private_versioned_and_encrypted() -> None:
    found = resources()
    block = found[("aws_s3_bucket_public_access_block", "etcd_backups")]
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[setting] is True, setting
    versioning = found[("aws_s3_bucket_versioning", "etcd_backups")]
    assert unquote(versioning["versioning_configuration"][0]["status"]) == "Enabled"
    encryption = found[("aws_s3_bucket_server_side_encryption_configuration", "etcd_backups")]
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert unquote(default["sse_algorithm"]) == "aws:kms"
    assert "acl" not in found[("aws_s3_bucket", "etcd_backups")]
