"""`govcloud plan` against a live OpenStack (the local cloud, or OS_CLOUD).

Each test plans a small county under its own random county code, so its projects, pools and
scopes are its own; everything it creates is deleted afterwards, whatever the outcome.
What a deployment would have created is created here through openstacksdk
(`handdeploy`), from the same desired items the plan compares (the Pulumi engine is not
on these machines).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import handdeploy
import openstack
import pytest
from openstack.connection import Connection
from small_county import write_county

from cloud import inventory
from cloud.plan.diff import Action, PlanReport
from cloud.plan.items import ANY, KINDS
from cloud.plan.run import DesiredSide, collect_desired, load_stacks, plan_against
from govcloud.loader import load_county

pytestmark = pytest.mark.cloud
REPO = Path(__file__).resolve().parents[2]
PRIMARY = "RegionOne"
REGIONS = ("RegionOne", "RegionTwo")
# What the test deploys by hand: everything but the external network, routers and servers
# (the first needs the site's physical network, the others take minutes on the fake driver).
DEPLOYED = tuple(kind for kind in KINDS if kind not in {"router", "server", "volume"})
PLAN_TIMEOUT_S = 900


def conn(cloud_name: str, region: str = PRIMARY) -> Connection:
    return openstack.connect(cloud=cloud_name, region_name=region)


@pytest.fixture
def project_dir(tmp_path: Path) -> Iterator[Path]:
    """A copy of the Pulumi project whose stacks read a small county with its own code."""
    code = f"59{secrets.randbelow(10**4):04d}"
    county = write_county(
        tmp_path / "county", {"county.yaml": ('code: "519901"', f'code: "{code}"')}
    )
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.dr.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    assert county == tmp_path / "county"
    yield tmp_path


@pytest.fixture
def desired(project_dir: Path, cloud_name: str) -> Iterator[DesiredSide]:
    side = collect_desired(
        "primary",
        stacks=load_stacks(project_dir, "primary"),
        county=load_county(project_dir / "county"),
    )
    try:
        yield side
    finally:
        handdeploy.remove_county(cloud_name, REGIONS, side.state.county.code)


def _report(side: DesiredSide, cloud_name: str) -> PlanReport:
    return plan_against(side, inventory.read(cloud_name, regions=[PRIMARY])).report


def _plan(side: DesiredSide, cloud_name: str) -> set[tuple[Any, ...]]:
    return {(c.action, c.kind, c.key, c.attribute) for c in _report(side, cloud_name).changes}


def test_plan_on_an_empty_cloud_creates_everything(
    project_dir: Path, desired: DesiredSide, cloud_name: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "plan",
            "--stack",
            "primary",
            "--cloud",
            cloud_name,
            "--json",
            "--project-dir",
            str(project_dir),
            "--county",
            str(project_dir / "county"),
        ],
        cwd=project_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=PLAN_TIMEOUT_S,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    plan = json.loads(result.stdout)
    assert {c["action"] for c in plan["changes"]} == {"create"}
    assert len(plan["changes"]) == len(desired.items)
    assert plan["totals"]["unchanged"] == 0


def test_deployed_resources_are_unchanged_and_three_hand_changes_show_exactly(
    desired: DesiredSide, cloud_name: str
) -> None:
    deployed = [
        i for i in desired.items if i.kind in DEPLOYED and (i.kind != "network" or i.key[1])
    ]
    deployed = [i for i in deployed if i.kind != "subnet" or i.key[1]]
    handdeploy.deploy(cloud_name, PRIMARY, deployed)
    report = _report(desired, cloud_name)
    for kind in ("group", "role_assignment"):  # read back from Keystone, matched by name
        assert report.counts[kind][Action.UNCHANGED] == sum(i.kind == kind for i in deployed) > 0
    before = {(c.action, c.kind, c.key, c.attribute) for c in report.changes}
    assert all(action is Action.CREATE for action, *_ in before), sorted(before)[:5]
    assert {(kind, key) for _, kind, key, _ in before} == {
        (i.kind, i.key) for i in desired.items if i not in deployed
    }

    code = desired.state.county.code
    c = conn(cloud_name)
    identity: Any = c.identity
    alpha = identity.find_project(f"{code}-alpha")
    c.network.update_quota(alpha.id, networks=99)
    baseline = c.network.find_security_group("alpha-baseline", project_id=alpha.id)
    c.network.create_security_group_rule(
        security_group_id=baseline.id,
        project_id=alpha.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="0.0.0.0/0",
    )
    c.network.delete_subnet(c.network.find_subnet("alpha-office-v6", project_id=alpha.id))

    after = _plan(desired, cloud_name)
    assert before - after == set()
    assert after - before == {
        (Action.UPDATE, "network_quota", (f"{code}-alpha", PRIMARY), "networks"),
        (
            Action.DELETE,
            "security_group_rule",
            (PRIMARY, f"{code}-alpha", "alpha-baseline", "ingress", "IPv4", "tcp", "22", ANY),
            None,
        ),
        (Action.CREATE, "subnet", (PRIMARY, f"{code}-alpha", "alpha-office-v6"), None),
    }
