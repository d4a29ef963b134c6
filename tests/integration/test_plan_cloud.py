"""`govcloud plan` against a live OpenStack (the local cloud, or OS_CLOUD).

Each test plans a small county under its own random county code, so its projects, pools and
scopes are its own; everything it creates is deleted afterwards, whatever the outcome.
What a deployment would have created is created here through openstacksdk, from the same
desired items the plan compares (the Pulumi engine is not on these machines).
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

import openstack
import pytest
from openstack.connection import Connection
from small_county import write_county

from govcloud import inventory
from govcloud.loader import load_county
from govcloud.stackplan.diff import Action
from govcloud.stackplan.items import ANY, Item
from govcloud.stackplan.run import DesiredSide, collect_desired, plan_against

pytestmark = pytest.mark.cloud
REPO = Path(__file__).resolve().parents[2]
PRIMARY = "RegionOne"
REGIONS = ("RegionOne", "RegionTwo")
# What the test deploys by hand: everything but the external network, routers and servers
# (the first needs the site's physical network, the others take minutes on the fake driver).
DEPLOYED = (
    "project",
    "limit",
    "network_quota",
    "volume_quota",
    "address_scope",
    "subnet_pool",
    "network",
    "subnet",
    "security_group",
    "security_group_rule",
)
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
        "primary", project_dir=project_dir, county=load_county(project_dir / "county")
    )
    try:
        yield side
    finally:
        _cleanup(cloud_name, side.state.county.code)


def _cleanup(cloud_name: str, code: str) -> None:
    identity: Any = conn(cloud_name).identity
    ours = [p for p in identity.projects() if f"county:{code}" in (p.tags or [])]
    for region in REGIONS:
        c = conn(cloud_name, region)
        for project in ours:
            for network in c.network.networks(project_id=project.id):
                for port in c.network.ports(network_id=network.id):
                    c.network.delete_port(port)
                c.network.delete_network(network)
            for group in c.network.security_groups(project_id=project.id):
                c.network.delete_security_group(group)
        for pool in c.network.subnet_pools():
            if pool.name.startswith(f"{code}-extranet"):
                c.network.delete_subnet_pool(pool)
        for scope in c.network.address_scopes():
            if scope.name.startswith(f"{code}-extranet"):
                c.network.delete_address_scope(scope)
    for project in ours:
        for limit in identity.limits(project_id=project.id):
            identity.delete_limit(limit)
        identity.delete_project(project)


def _deploy(cloud_name: str, items: list[Item]) -> None:
    """Create the items as a deployment would (delete_default_rules included)."""
    identity: Any = conn(cloud_name).identity
    c = conn(cloud_name)
    compute = identity.find_service("nova") or next(
        s for s in identity.services() if s.type == "compute"
    )
    by_kind: dict[str, list[Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    projects = {}
    for item in by_kind["project"]:
        projects[item.key[0]] = identity.create_project(
            name=item.key[0],
            domain_id="default",
            description=item.attrs["description"],
            is_enabled=item.attrs["enabled"],
            tags=list(item.attrs["tags"]),
        ).id
    for item in by_kind["limit"]:
        project, region, resource = item.key
        identity.create_limit(
            service_id=compute.id,
            project_id=projects[project],
            region_id=region,
            resource_name=resource,
            resource_limit=item.attrs["resource_limit"],
        )
    for item in by_kind["network_quota"]:
        c.network.update_quota(projects[item.key[0]], **item.attrs)
    for item in by_kind["volume_quota"]:
        c.block_storage.update_quota_set(projects[item.key[0]], **item.attrs)
    _deploy_network(conn(cloud_name), by_kind, projects)


def _deploy_network(
    c: Connection, by_kind: dict[str, list[Item]], projects: dict[str, str]
) -> None:
    ids: dict[str, str] = {}
    for item in by_kind["address_scope"]:
        scope = c.network.create_address_scope(
            name=item.key[1], ip_version=item.attrs["ip_version"], is_shared=item.attrs["shared"]
        )
        ids[item.key[1]] = scope.id
    for item in by_kind["subnet_pool"]:
        a = item.attrs
        # Neutron derives a pool's IP version from its prefixes and refuses it in a POST.
        pool = c.network.create_subnet_pool(
            name=item.key[1],
            prefixes=a["prefixes"],
            default_prefix_length=a["default_prefixlen"],
            address_scope_id=ids[a["address_scope"]],
            is_shared=a["shared"],
        )
        ids[item.key[1]] = pool.id
    for item in by_kind["network"]:
        network = c.network.create_network(name=item.key[2], project_id=projects[item.key[1]])
        c.network.set_tags(network, item.attrs["tags"])
        ids[item.key[2]] = network.id
    for item in by_kind["subnet"]:
        a = item.attrs
        subnet = c.network.create_subnet(
            name=item.key[2],
            project_id=projects[item.key[1]],
            network_id=ids[a["network"]],
            ip_version=a["ip_version"],
            cidr=a["cidr"],
            gateway_ip=a["gateway_ip"],
            is_dhcp_enabled=a["enable_dhcp"],
            ipv6_ra_mode=a["ipv6_ra_mode"],
            ipv6_address_mode=a["ipv6_address_mode"],
            subnet_pool_id=ids[a["subnet_pool"]],
        )
        c.network.set_tags(subnet, a["tags"])
    for item in by_kind["security_group"]:
        group = c.network.create_security_group(
            name=item.key[2],
            description=item.attrs["description"],
            project_id=projects[item.key[1]],
        )
        for rule in group.security_group_rules or ():
            c.network.delete_security_group_rule(rule["id"])
        c.network.set_tags(group, item.attrs["tags"])
        ids[item.key[2]] = group.id
    for item in by_kind["security_group_rule"]:
        _, project, group, direction, ethertype, protocol, ports, remote = item.key
        low, _, high = ports.partition("-")
        c.network.create_security_group_rule(
            security_group_id=ids[group],
            project_id=projects[project],
            direction=direction,
            ethertype=ethertype,
            protocol=None if protocol == ANY else protocol,
            port_range_min=None if ports == ANY else int(low),
            port_range_max=None if ports == ANY else int(high or low),
            remote_ip_prefix=None if remote == ANY or remote.startswith("group:") else remote,
            remote_group_id=ids[remote[6:]] if remote.startswith("group:") else None,
        )


def _plan(side: DesiredSide, cloud_name: str) -> set[tuple[Any, ...]]:
    snapshot = inventory.read(cloud_name, regions=[PRIMARY])
    report = plan_against(side, snapshot).report
    return {(c.action, c.kind, c.key, c.attribute) for c in report.changes}


def test_plan_on_an_empty_cloud_creates_everything(
    project_dir: Path, desired: DesiredSide, cloud_name: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "govcloud",
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
    _deploy(cloud_name, deployed)
    before = _plan(desired, cloud_name)
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
