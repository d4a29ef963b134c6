"""The portal on the local cloud: a small county of its own (two departments) deployed with the
stand-in for `pulumi up` (cloud.deploy), its registry on a real PostgreSQL.

- A request reaches `deployed` only once the cloud holds it: refused (naming what is missing)
  before the stacks are deployed, accepted after.
- The live usage the portal shows per department is what openstacksdk reads directly.
- The ops overview's capacity is Placement's, as openstacksdk reads it directly.

Only what this county owns is removed afterwards; other work uses the same cloud meanwhile.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import psycopg
import pytest
from clirunner import govcloud
from handdeploy import remove_county
from portal_kit import Portal, make_portal
from small_county import write_county, write_project
from sqlalchemy.engine import make_url

from cloud import deploy, inventory
from cloud.plan.run import collect_desired, load_stacks, stack_region
from govcloud.conventions import department_from_tags
from govcloud.registry import db
from lab.localcloud.layout import REGIONS
from portal import accounts
from portal.app import live_cloud

pytestmark = [pytest.mark.cloud, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]
CODE = "519966"  # a county of its own: other cloud tests and the sample county use others
DEPARTMENTS = ("alpha", "beta")


@dataclass
class Site:
    """The small county's portal reading the local cloud, and its registry."""

    portal: Portal
    cloud: str
    url: str
    project: Path
    deployed: bool = False

    def deploy_primary(self) -> dict[str, Any]:
        """Build the primary stack's desired state (with the portal's grants) in the cloud."""
        county = self.portal.county
        region = stack_region("primary", county)
        desired = collect_desired(
            "primary",
            stacks=load_stacks(self.project, "primary"),
            county=county,
            registry_url=self.url,
        )
        snapshot = inventory.read(self.cloud, regions=[region])
        _, result = deploy.deploy_stack(
            desired, snapshot, deploy.connector(self.cloud, region), workers=2
        )
        self.deployed = True
        return result.as_dict()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def site(
    cloud_name: str, postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("portal-cloud")
    # alpha's web system stays in its machine room: the only servers are the portal's.
    county = write_county(
        root / "county",
        {
            "county.yaml": ('code: "519901"', f'code: "{CODE}"'),
            "departments/alpha.yaml": ("location: cloud", "location: legacy"),
        },
    )
    write_project(root, CODE)
    regions = [r.name for r in REGIONS]
    remove_county(cloud_name, regions, CODE)  # what an interrupted run may have left
    name = f"t_portal_cloud_{secrets.token_hex(3)}"
    with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.upgrade(engine, actor="test:setup")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(accounts.PASSWORD_PROFILE_ENV, "cheapest")
        accounts.reset_hashing()
        portal = make_portal(engine, county)
        # The portal's own reader of the cloud, read afresh on every call (no TTL).
        portal.context.cloud = live_cloud(cloud_name, portal.context.regions, ttl=0)
        try:
            yield Site(portal, cloud_name, url, root)
        finally:
            accounts.reset_hashing()
            engine.dispose()
            remove_county(cloud_name, regions, CODE)
            with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _approved(portal: Portal, who: str, **body: Any) -> int:
    created = portal.submit(who, **body)
    assert created.status_code == 201, created.text
    rid: int = created.json()["id"]
    head = "head-a" if who == "req-a" else "head-b"
    assert portal.approve_twice(rid, head=head).json()["state"] == "ops_approved"
    return rid


def test_a_request_is_deployed_only_once_the_cloud_holds_it(site: Site) -> None:
    p = site.portal
    rid = _approved(p, "req-a", kind="compute", flavor="m1.small", count=1)

    refused = p.post("ops", f"/requests/{rid}/deploy")
    assert refused.status_code == 409, refused.text
    missing = refused.json()["detail"]["missing"]
    assert {
        "kind": "server",
        "name": f"alpha-req{rid}-1",
        "expected": "m1.small",
        "found": None,
    } in (missing)
    assert p.get("ops", f"/requests/{rid}").json()["state"] == "ops_approved"

    done = site.deploy_primary()
    assert done["totals"]["create"] > 0, done

    deployed = p.post("ops", f"/requests/{rid}/deploy")
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["state"] == "deployed"


def test_mark_deployed_checks_the_cloud(site: Site, local_cloud: Any) -> None:
    """`govcloud portal mark-deployed`, the check ops run after a deploy (or from cron)."""
    p = site.portal
    rid = _approved(p, "req-b", kind="compute", flavor="m1.small", count=1)
    env = {
        "GOVCLOUD_DATABASE_URL": site.url,
        "GOVCLOUD_COUNTY": str(site.project / "county"),
        "GOVCLOUD_LOCALCLOUD_DIR": str(local_cloud.paths.root),
    }
    args = ("portal", "mark-deployed", "--as", "ops", "--request", str(rid), "--json")

    before = govcloud(*args, cwd=site.project, env=env)
    assert before.returncode == 1, before.stderr
    [result] = json.loads(before.stdout)["requests"]
    assert result["state"] == "ops_approved"
    assert any(f"beta-req{rid}-1" in m for m in result["missing"]), result
    assert p.get("ops", f"/requests/{rid}").json()["state"] == "ops_approved"

    site.deploy_primary()
    after = govcloud(*args, cwd=site.project, env=env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["requests"] == [{"id": rid, "state": "deployed", "missing": []}]
    assert p.get("ops", f"/requests/{rid}").json()["state"] == "deployed"

    requester = govcloud(*args[:3], "req-b", *args[4:], cwd=site.project, env=env)
    assert requester.returncode == 2
    assert "names an ops approver" in requester.stderr


def _direct_usage(cloud: str, region: str) -> dict[str, dict[str, float]]:
    """Each department's usage as openstacksdk reads it, without the portal's code."""
    conn = openstack.connect(cloud=cloud, region_name=region)
    result: dict[str, dict[str, float]] = {}
    for project in conn.identity.projects():
        code = department_from_tags(list(project.tags or []), CODE)
        if code is None:
            continue
        servers = list(conn.compute.servers(details=True, all_projects=True, project_id=project.id))
        volumes = list(
            conn.block_storage.volumes(details=True, all_projects=True, project_id=project.id)
        )
        networks = [
            n for n in conn.network.networks(project_id=project.id) if not n.is_router_external
        ]
        result[code] = {
            "vcpu": sum(s.flavor["vcpus"] for s in servers),
            "ram_gb": sum(s.flavor["ram"] for s in servers) / 1024,
            "storage_gb": sum(v.size for v in volumes),
            "networks": len(networks),
        }
    return result


def test_live_usage_is_what_the_cloud_holds(site: Site) -> None:
    p = site.portal
    rid = _approved(p, "req-b", kind="storage", storage_gb=20, volumes=2)
    site.deploy_primary()
    assert p.post("ops", f"/requests/{rid}/deploy").json()["state"] == "deployed"

    region = stack_region("primary", p.county)
    direct = _direct_usage(site.cloud, region)
    assert set(direct) == set(DEPARTMENTS)
    assert direct["beta"]["storage_gb"] == 20
    for code in DEPARTMENTS:
        usage = p.get("ops", f"/departments/{code}/usage").json()
        assert usage["cloud"] == site.cloud
        seen = {r["resource"]: r["observed"] for r in usage["resources"]}
        assert {k: seen[k] for k in direct[code]} == direct[code], code
        assert seen["floating_ips"] is None  # the snapshot has no floating IPs


def test_the_overview_shows_placement_and_the_quotas_handed_out(site: Site) -> None:
    p = site.portal
    if not site.deployed:
        site.deploy_primary()
    body = p.get("auditor", "/ops/overview").json()
    assert body["cloud"] == site.cloud and body["cloud_error"] is None
    for region in p.context.regions:
        conn = openstack.connect(cloud=site.cloud, region_name=region)
        direct: dict[str, list[Any]] = {}
        for provider in conn.placement.resource_providers():
            for item in conn.placement.resource_provider_inventories(provider):
                direct.setdefault(item.resource_class, []).append(item)
        for row in (c for c in body["capacity"] if c["region"] == region):
            items = direct[row["resource_class"]]
            assert row["total"] == sum(i.total for i in items)
            assert row["reserved"] == sum(i.reserved for i in items)
            assert row["allocatable"] == pytest.approx(
                sum((i.total - i.reserved) * i.allocation_ratio for i in items)
            )
            assert row["used"] >= 0  # other work on the cloud changes it meanwhile
    # Quotas handed out: what the primary stack set for this county (alpha 8 + beta 4 vCPU);
    # the DR stack is not deployed here.
    handed = {(c["region"], c["resource_class"]): c["quota"] for c in body["capacity"]}
    assert handed[("RegionOne", "VCPU")] == 12
    assert handed[("RegionOne", "MEMORY_MB")] == (16 + 8) * 1024
    assert handed[("RegionTwo", "VCPU")] == 0
